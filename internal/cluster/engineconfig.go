package cluster

// MetaKeyEnginePrefix prefixes the meta group's records that engines keep
// through the node's configuration store (replica.ConfigStore): the
// primary-backup engine's per-partition configurations. Only that store
// writes under it, and it writes nothing else.
const MetaKeyEnginePrefix = "engine/"

// EngineConfigKey is the meta group key of an engine's configuration
// record key (a replica.ConfigStore key).
func EngineConfigKey(key string) []byte { return []byte(MetaKeyEnginePrefix + key) }
