-- Byte-exact events: the raw body and its content type are kept beside the
-- parsed payload, so a stored event can be re-verified against the
-- provider's signature and forwarded unchanged. payload becomes optional:
-- a text or XML body has no JSON form. Rows written before this migration
-- have no raw body (body is null): their payload is all that was kept.
alter table webhook_events
    alter column payload drop not null,
    add column body         bytea,
    add column content_type text not null default 'application/json',
    add column event_type   text;

create index webhook_events_provider_event_type_idx
    on webhook_events (provider, event_type) where event_type is not null;

-- Dead letters: events that can never be stored (PostgreSQL refuses their
-- payload, a task that cannot be decoded). They live here, not only in
-- asynq's archive, which trims itself and deletes what it trims. The same
-- event failing again updates its row (attempts, last_failed_at).
create table webhook_dead_letters (
    id              bigint generated always as identity primary key,
    provider        text,
    event_id        text,
    event_type      text,
    content_type    text,
    body            bytea       not null,
    headers         jsonb       not null default '{}'::jsonb,
    received_at     timestamptz,
    reason          text        not null,
    attempts        integer     not null default 1,
    first_failed_at timestamptz not null default now(),
    last_failed_at  timestamptz not null default now()
);

create unique index webhook_dead_letters_provider_event_id_key
    on webhook_dead_letters (provider, event_id) where provider is not null and event_id is not null;
create index webhook_dead_letters_last_failed_at_idx on webhook_dead_letters (last_failed_at);

---- create above / drop below ----

drop table webhook_dead_letters;
drop index webhook_events_provider_event_type_idx;
alter table webhook_events
    drop column event_type,
    drop column content_type,
    drop column body;
