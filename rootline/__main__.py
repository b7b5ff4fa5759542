from rootline.cli.main import run

run()
