-- Counting live nodes and tasks (admin.stats, the admin API) reads these
-- small indexes instead of every row. They cost nothing on updates: the
-- deleted flag changes only when a row is deleted.
CREATE INDEX nodes_deleted ON nodes (deleted);
CREATE INDEX tasks_deleted ON tasks (deleted);
