-- The symbol properties group's statements (pipelines/sync/steps/symbol_properties.py): the
-- shipped file replaces the table whole. The Arrow table is read under the name `staged`.

-- name: delete_symbol_properties
DELETE FROM symbol_properties;

-- name: insert_symbol_properties
INSERT INTO symbol_properties BY NAME SELECT * FROM staged;
