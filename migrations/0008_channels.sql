-- Sales channels: the locations each may sell from, highest sourcing priority first
-- (position 0); a reservation remembers the channel it was taken through (NULL: none).

CREATE TABLE channels (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code       text NOT NULL UNIQUE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE channel_locations (
    channel_id  bigint NOT NULL REFERENCES channels (id),
    location_id bigint NOT NULL REFERENCES locations (id),
    position    integer NOT NULL CHECK (position >= 0),
    PRIMARY KEY (channel_id, location_id),
    -- DEFERRABLE: an update rewrites the positions of a channel's rows in one statement.
    CONSTRAINT channel_locations_position UNIQUE (channel_id, position) DEFERRABLE INITIALLY IMMEDIATE
);

ALTER TABLE reservations ADD COLUMN channel_id bigint REFERENCES channels (id);
