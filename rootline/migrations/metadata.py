"""All tables, gathered for Alembic's autogenerate. Only migrations import this."""

from rootline.clustering import models as _clustering_models  # noqa: F401
from rootline.db import Base
from rootline.ingest import models as _ingest_models  # noqa: F401
from rootline.rootcause import models as _rootcause_models  # noqa: F401
from rootline.web import models as _web_models  # noqa: F401

target_metadata = Base.metadata
