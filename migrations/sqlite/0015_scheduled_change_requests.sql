-- Scheduled change requests: a request may name when it applies
-- (`apply_at`, Unix ms). At that time the scheduler applies it if it is
-- approved and its base still holds; otherwise it is settled `expired`
-- (not approved in time) or `failed` (could not apply), with the reason
-- in `failure`. Keep in step with ../postgres/0015_scheduled_change_requests.sql.
ALTER TABLE change_requests ADD COLUMN apply_at BIGINT;
ALTER TABLE change_requests ADD COLUMN failure TEXT;
CREATE INDEX change_requests_due ON change_requests (state, apply_at);
