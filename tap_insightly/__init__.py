"""tap-insightly: every Insightly CRM resource as an incremental Singer stream.

Layout (the Singer SDK's): ``tap.py`` (settings, discovery), ``client.py`` (the one REST
stream: auth, throttle, retries, quota, paging, bookmarks), ``streams.py`` (stream classes
made from the rows of ``resources.py``), ``schemas.py`` (record schemas, generated into ``schemas.json``),
``poller_config.py`` (Open Connectors poller configuration), ``custom_fields.py``,
``dates.py`` and ``output.py`` (fast Singer output).
"""

from sdk_startup import defer_unused_sdk_imports

defer_unused_sdk_imports()
