-- husky state store, version 4: an index for alert channels.
-- An integration's last delivery (`husky integrations list`, `GET /api/integrations`): the newest
-- alert whose channel starts with `<name>:`, found through a range of this index.
CREATE INDEX idx_alerts_channel ON alerts (channel, id);
