from tests.pipeline_fixtures import (  # noqa: F401  (pytest fixtures)
    inbox, inbox_url, meltano_plugins, pipeline, sandbox, sandbox_url,
)
