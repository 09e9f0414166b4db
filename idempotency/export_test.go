package idempotency

// StorageKey and RecordInfo let the external tests look at what the store
// holds.
var StorageKey = storageKey

// RecordInfo decodes a record: its state ("in flight", "completed", "not
// replayable", "released") and attempt.
func RecordInfo(v []byte) (state string, attempt uint64, err error) {
	r, err := decodeRecord(v)
	if err != nil {
		return "", 0, err
	}
	return [...]string{stateInFlight: "in flight", stateCompleted: "completed",
		stateNotReplayable: "not replayable", stateReleased: "released"}[r.state], r.attempt, nil
}
