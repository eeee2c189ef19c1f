using KpuEdge.Cloud;

// kpu-cloud: the Orleans silo, embedded MQTT broker, ingest and public API in one process.
// Configure with appsettings.json (section "Cloud") or overrides such as --Cloud:BrokerPort=1884.
var app = CloudHost.Build(args);
await app.RunAsync();
