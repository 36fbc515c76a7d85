-- Retention and a commit-ordered read API (see services/internal/store/README.md).
--
-- 1. webhook_events becomes a table partitioned by day of received_at (UTC),
--    so old days are dropped in O(1) (DROP TABLE of a partition, no DELETE,
--    no vacuum debt). Rows whose day has no partition (an event older than
--    the oldest partition kept, a clock far ahead) land in
--    webhook_events_default; webhook_events_add_partitions moves them into
--    the day's partition when it is created.
-- 2. A partitioned table cannot have a unique index without the partition
--    key, so the (provider, event_id) uniqueness moves to webhook_event_keys,
--    which outlives the events (DEDUP_RETENTION): a re-delivery of an event
--    whose partition was dropped is still recognised within the horizon.
-- 3. tx is the id of the transaction that wrote the row. Readers page in
--    (tx, id) order below the oldest transaction still running
--    (pg_snapshot_xmin): every row below it is committed (or never will be),
--    so a cursor can never pass a row that commits later.
--
-- Existing rows are copied (the table is rewritten once, in this
-- transaction), keep their id, and get this transaction's id as tx.

create table webhook_event_keys (
    provider    text        not null,
    event_id    text        not null,
    received_at timestamptz not null,
    constraint webhook_event_keys_pkey primary key (provider, event_id)
);
create index webhook_event_keys_received_at_idx on webhook_event_keys (received_at);

alter table webhook_events rename to webhook_events_unpartitioned;
alter index webhook_events_pkey rename to webhook_events_unpartitioned_pkey;
alter sequence webhook_events_id_seq rename to webhook_events_unpartitioned_id_seq;

create sequence webhook_events_id_seq as bigint;

create table webhook_events (
    id           bigint      not null default nextval('webhook_events_id_seq'),
    provider     text        not null,
    event_id     text        not null,
    payload      jsonb,
    headers      jsonb       not null default '{}'::jsonb,
    received_at  timestamptz not null,
    persisted_at timestamptz not null default now(),
    body         bytea,
    content_type text        not null default 'application/json',
    event_type   text,
    tx           xid8        not null default pg_current_xact_id(),
    constraint webhook_events_pkey primary key (tx, id, received_at)
) partition by range (received_at);

alter sequence webhook_events_id_seq owned by webhook_events.id;

create table webhook_events_default partition of webhook_events default;

-- webhook_events_partition_name is the name of day's partition.
create function webhook_events_partition_name(day date) returns text
language sql immutable as $$ select 'webhook_events_p' || to_char(day, 'YYYYMMDD') $$;

-- webhook_events_add_partitions creates the daily partitions first..last
-- that do not exist yet, moving any rows the default partition holds for
-- those days into them. Returns how many it created.
create function webhook_events_add_partitions(first date, last date) returns integer
language plpgsql as $$
declare
    day     date;
    name    text;
    lo      timestamptz;
    hi      timestamptz;
    created integer := 0;
begin
    for day in select generate_series(first, last, interval '1 day')::date loop
        name := webhook_events_partition_name(day);
        continue when to_regclass(name) is not null;
        lo := day::timestamp at time zone 'UTC';
        hi := (day + 1)::timestamp at time zone 'UTC';
        execute format('create table %I (like webhook_events including defaults)', name);
        execute format('with moved as (delete from webhook_events_default where received_at >= $1 and received_at < $2 returning *)
                        insert into %I select * from moved', name) using lo, hi;
        execute format('alter table webhook_events attach partition %I for values from (%L) to (%L)', name, lo, hi);
        created := created + 1;
    end loop;
    return created;
end $$;

-- webhook_events_drop_partitions drops every daily partition whose whole
-- day ends at or before cutoff, and deletes the default partition's rows
-- older than cutoff. Returns the names of the partitions dropped.
create function webhook_events_drop_partitions(cutoff timestamptz) returns setof text
language plpgsql as $$
declare
    name text;
begin
    for name in
        select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'webhook_events'::regclass and c.relname ~ '^webhook_events_p[0-9]{8}$'
          and (to_date(substring(c.relname from 17), 'YYYYMMDD') + 1)::timestamp at time zone 'UTC' <= cutoff
        order by c.relname
    loop
        execute format('drop table %I', name);
        return next name;
    end loop;
    delete from webhook_events_default where received_at < cutoff;
end $$;

-- One notification per inserting statement wakes the read API's long polls.
create function webhook_events_notify() returns trigger
language plpgsql as $$
begin
    perform pg_notify('webhook_events', '');
    return null;
end $$;

create trigger webhook_events_notify after insert on webhook_events
    for each statement execute function webhook_events_notify();

-- Today's neighbourhood and every day that already holds rows.
select webhook_events_add_partitions((now() at time zone 'UTC')::date - 1, (now() at time zone 'UTC')::date + 3);
select webhook_events_add_partitions(day, day)
from (select distinct (received_at at time zone 'UTC')::date as day from webhook_events_unpartitioned) d;

insert into webhook_events (id, provider, event_id, payload, headers, received_at, persisted_at, body, content_type, event_type)
select id, provider, event_id, payload, headers, received_at, persisted_at, body, content_type, event_type
from webhook_events_unpartitioned;

insert into webhook_event_keys (provider, event_id, received_at)
select provider, event_id, received_at from webhook_events_unpartitioned;

select setval('webhook_events_id_seq', coalesce((select max(id) from webhook_events_unpartitioned), 0) + 1, false);

drop table webhook_events_unpartitioned;

create index webhook_events_received_at_idx on webhook_events (received_at);

---- create above / drop below ----

create table webhook_events_unpartitioned (
    id           bigint generated always as identity primary key,
    provider     text        not null,
    event_id     text        not null,
    payload      jsonb,
    headers      jsonb       not null default '{}'::jsonb,
    received_at  timestamptz not null,
    persisted_at timestamptz not null default now(),
    body         bytea,
    content_type text        not null default 'application/json',
    event_type   text
);

insert into webhook_events_unpartitioned (id, provider, event_id, payload, headers, received_at, persisted_at, body, content_type, event_type)
overriding system value
select id, provider, event_id, payload, headers, received_at, persisted_at, body, content_type, event_type
from webhook_events;

select setval(pg_get_serial_sequence('webhook_events_unpartitioned', 'id'),
              coalesce((select max(id) from webhook_events_unpartitioned), 0) + 1, false);

drop table webhook_events;
drop table webhook_event_keys;
alter sequence webhook_events_unpartitioned_id_seq rename to webhook_events_id_seq;
drop function webhook_events_notify();
drop function webhook_events_drop_partitions(timestamptz);
drop function webhook_events_add_partitions(date, date);
drop function webhook_events_partition_name(date);

alter table webhook_events_unpartitioned rename to webhook_events;
alter table webhook_events add constraint webhook_events_provider_event_id_key unique (provider, event_id);
alter index webhook_events_unpartitioned_pkey rename to webhook_events_pkey;
create index webhook_events_received_at_idx on webhook_events (received_at);
create index webhook_events_provider_event_type_idx
    on webhook_events (provider, event_type) where event_type is not null;
