//! Diesel's view of the tables in `migrations/`.

diesel::table! {
    segments (segment_id) {
        segment_id -> Text,
        flight_no -> Text,
        origin -> Text,
        origin_key -> Text,
        destination -> Text,
        destination_key -> Text,
        departs_at -> Timestamptz,
        arrives_at -> Timestamptz,
        price_cents -> Int8,
        currency -> Text,
        seats_total -> Int4,
        legacy_id -> Int8,
        cancelled_at -> Nullable<Timestamptz>,
        cancel_reason -> Nullable<Text>,
    }
}

diesel::table! {
    seats (segment_id, seat) {
        segment_id -> Text,
        seat -> Text,
        status -> Text,
        booking_id -> Nullable<Uuid>,
        held_until -> Nullable<Timestamptz>,
        coordinator -> Nullable<Text>,
        legacy_id -> Int8,
        price_cents -> Nullable<Int8>,
        flight_cancelled -> Bool,
    }
}

diesel::table! {
    users (user_id) {
        user_id -> Uuid,
        login -> Text,
        password_hash -> Text,
        home_airline -> Text,
        created_at -> Timestamptz,
        role -> Text,
    }
}

diesel::table! {
    passes (pass_id) {
        pass_id -> Uuid,
        user_id -> Uuid,
        status -> Text,
        sold_by -> Text,
        created_at -> Timestamptz,
        total_cents -> Int8,
        currency -> Text,
        legs -> Json,
        passengers -> Jsonb,
    }
}

diesel::table! {
    login_claims (login) {
        login -> Text,
        user_id -> Uuid,
        claimed_at -> Timestamptz,
        claimed_by -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Int8,
        kind -> Text,
        payload -> Json,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        peers -> Array<Text>,
    }
}

diesel::table! {
    bookings (booking_id) {
        booking_id -> Uuid,
        user_id -> Uuid,
        state -> Text,
        legs -> Jsonb,
        finished -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Uuid,
        key -> Text,
        request_hash -> Text,
        booking_id -> Uuid,
        response_status -> Nullable<Int2>,
        response_body -> Nullable<Jsonb>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    pass_disruptions (pass_id, airline, segment_id) {
        pass_id -> Uuid,
        airline -> Text,
        segment_id -> Text,
        reason -> Text,
        at -> Timestamptz,
    }
}

diesel::table! {
    events (id) {
        id -> Int8,
        audience -> Text,
        user_id -> Nullable<Uuid>,
        kind -> Text,
        segment_id -> Nullable<Text>,
        pass_id -> Nullable<Uuid>,
        seats -> Nullable<Int4>,
        cents -> Nullable<Int8>,
        detail -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    segment_alerts (segment_id) {
        segment_id -> Text,
        low -> Bool,
    }
}

diesel::joinable!(seats -> segments (segment_id));
diesel::allow_tables_to_appear_in_same_query!(segments, seats);
