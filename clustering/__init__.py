"""Clustering: embed clean texts, group them into recurring issue themes, label them."""
