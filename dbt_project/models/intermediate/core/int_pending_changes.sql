-- The change rows of the batch being processed, each with its account and the first day it can
-- change in the signals: the event's own day for facts; for dimension rows, the day the change
-- happened (signals read dimensions as they were on each day), or earlier when the change moves
-- a date that places the row in the past (an account's creation, a contact's departure, a
-- contract's start).
with changes as (
    {%- for system in ['crm', 'support', 'product', 'engagement'] %}
    select
        source_table,
        key,
        seq,
        op,
        source_ts,
        after,
        before
    from {{ cdc_changes(system, batch_only=true) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select
        source_table,
        key,
        seq,
        op,
        coalesce({{ json_text('after', 'account_id') }}, {{ json_text('before', 'account_id') }}) as account_id,
        cast(case source_table
            {%- for table, column in {
                'events': 'ts', 'tickets': 'created_at', 'survey_sends': 'sent_at',
                'nps_responses': 'responded_at', 'invoices': 'event_at', 'crm_events': 'event_at'
            }.items() %}
            when '{{ table }}' then least(
                cast({{ json_text('after', column) }} as timestamp),
                cast({{ json_text('before', column) }} as timestamp)
            )
            {%- endfor %}
            when 'accounts' then least(source_ts, {{ moved_to_or_from('created_at') }})
            when 'contacts' then least(source_ts, {{ moved_to_or_from('left_at') }})
            when 'contracts' then least(
                source_ts,
                {{ moved_to_or_from('start_date') }},
                {{ moved_to_or_from('renewal_date', 'start_date') }},
                {{ moved_to_or_from('cancelled_at') }}
            )
        end as date) as affected_date
    from changes
    where source_table not in ('team', 'tasks')
    {%- if flags.FULL_REFRESH %}
        -- A full refresh rebuilds every account from the first day (int_recompute_scope) and
        -- scores every ticket, reading no pending change: listing them all (every product event,
        -- its JSON parsed) would cost as much as staging them.
        and false
    {%- endif %}
)

select * from final
