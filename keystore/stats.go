package keystore

// Stats summarizes the stored keys for monitoring.
type Stats struct {
	// KeysByState counts the keys in each state.
	KeysByState map[State]int
	// VersionEncryptions holds, for every key version (material) of every
	// key, the encryptions reported for it so far, in no set order.
	VersionEncryptions []uint64
}

// Stats counts the keys by state and collects the usage of every key
// version. It reads memory only, in one pass over the keys.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{KeysByState: map[State]int{}}
	for _, k := range s.v.keys {
		st.KeysByState[k.State]++
		for _, v := range k.Versions {
			st.VersionEncryptions = append(st.VersionEncryptions, v.EncryptionCount)
		}
	}
	return st
}
