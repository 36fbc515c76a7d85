-- One row per (provider, event id): the unique constraint is the final guard
-- against duplicates, whatever happens to the Redis idempotency keys.
create table webhook_events (
    id           bigint generated always as identity primary key,
    provider     text        not null,
    event_id     text        not null,
    payload      jsonb       not null,
    headers      jsonb       not null default '{}'::jsonb,
    received_at  timestamptz not null,
    persisted_at timestamptz not null default now(),
    constraint webhook_events_provider_event_id_key unique (provider, event_id)
);

create index webhook_events_received_at_idx on webhook_events (received_at);

---- create above / drop below ----

drop table webhook_events;
