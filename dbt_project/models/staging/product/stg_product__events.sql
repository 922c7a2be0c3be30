{{ config(materialized='table') }}

{{ cdc_current_state('product', 'events', {
    'event_id': 'varchar',
    'account_id': 'varchar',
    'user_id': 'varchar',
    'event_name': 'varchar',
    'ts': 'timestamp',
    'properties': 'json'
}) }}
