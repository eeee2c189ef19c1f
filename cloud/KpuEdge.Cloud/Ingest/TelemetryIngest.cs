using System.Globalization;
using System.Threading.Channels;
using KpuEdge.Broker;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Security;
using KpuEdge.Crypto.Health;
using KpuEdge.Nsoc;
using KpuEdge.Nsoc.Fleet;
using KpuEdge.Nsoc.Incidents;
using KpuEdge.Nsoc.Rules;
using KpuEdge.Nsoc.Telemetry;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Ingest;

/// <summary>A telemetry message as the ingest took it off the broker.</summary>
/// <param name="Sender">The role and assignment the broker stamped from the sender's certificate (<see cref="TelemetrySender"/>); null if unstamped.</param>
public sealed record InboundTelemetry(string Topic, TelemetrySender? Sender, byte[] Payload, DateTimeOffset ReceivedAt, Func<Task> Ack);

/// <summary>Who published a telemetry message, as the cloud's broker knows it from the client certificate.</summary>
public sealed record TelemetrySender(bool Station, string Assignment)
{
    /// <summary>The MQTT user property the broker sets (replacing any the client sent).</summary>
    public const string Property = "kpu-sender";

    public string Format() => (Station ? "ppk:" : "tps:") + Assignment;

    public static TelemetrySender? Parse(string? value) => value switch
    {
        ['p', 'p', 'k', ':', .. var rest] when rest.Length > 0 => new TelemetrySender(true, rest),
        ['t', 'p', 's', ':', .. var rest] when rest.Length > 0 => new TelemetrySender(false, rest),
        _ => null,
    };
}

/// <summary>
/// Device health reports from the broker to the NSOC: each checked (size, strict decoding, the topic's device = the
/// report's, a TPS device's signature against its registered key, a pace of <see cref="NsocOptions.TelemetryPerMinute"/>),
/// then judged fresh or replayed by its province's <see cref="IFleetGrain"/> (one place per device, whichever node it
/// reached), then written to InfluxDB in batches and — its events — to the ledger as security events; a tamper report
/// raises its incident at once. Off the forms' path: its own queue and worker, and a slow or absent InfluxDB costs
/// history only. A refusal is a security event (a few a minute per device and reason; the rest counted).
/// </summary>
public sealed class TelemetryIngest(
    DeviceRegistryProvider devices, IGrainFactory grains, InfluxWriter influx, SecurityEventRecorder events, IOptions<NsocOptions> options,
    TimeProvider time, ILogger<TelemetryIngest> logger) : BackgroundService
{
    private readonly Channel<InboundTelemetry> _inbound = Channel.CreateBounded<InboundTelemetry>(new BoundedChannelOptions(20_000) { SingleReader = true });
    private readonly PublishQuotas _pace = new(time);
    private readonly PublishQuota _quota = new(Burst: options.Value.TelemetryBurst, PerSecond: options.Value.TelemetryPerMinute / 60.0);
    private readonly RefusalThrottle _refusals = new(TimeSpan.FromMinutes(1), time, 3);
    private long _received, _accepted, _refused, _replayed, _bytes;

    public long Received => Interlocked.Read(ref _received);
    public long Accepted => Interlocked.Read(ref _accepted);
    public long Refused => Interlocked.Read(ref _refused);
    public long Replayed => Interlocked.Read(ref _replayed);
    /// <summary>Payload bytes of every report received (the MQTT framing and TLS come on top).</summary>
    public long BytesReceived => Interlocked.Read(ref _bytes);

    /// <summary>After each batch is through (accepted, refused and acknowledged), with its size.</summary>
    public event Action<int>? BatchDone;

    /// <summary>Queues a message (waits when 20,000 are queued: the broker holds the rest).</summary>
    public ValueTask EnqueueAsync(InboundTelemetry message, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _received);
        Interlocked.Add(ref _bytes, message.Payload.Length);
        return _inbound.Writer.WriteAsync(message, cancellationToken);
    }

    private sealed record Checked(InboundTelemetry Message, HealthReport Report, HealthSample Sample, string Province);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<InboundTelemetry>();
        try
        {
            while (await _inbound.Reader.WaitToReadAsync(stoppingToken))
            {
                batch.Clear();
                while (batch.Count < 2000 && _inbound.Reader.TryRead(out var m)) batch.Add(m);
                try { await ProcessAsync(batch); }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // Not acknowledged: the devices keep the reports and send them again.
                    logger.LogError(e, "Taking in {Count} health reports failed; not acknowledged, the devices will send them again", batch.Count);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    private async Task ProcessAsync(List<InboundTelemetry> batch)
    {
        var ok = new List<Checked>();
        foreach (var message in batch)
        {
            var (report, refusal) = await CheckAsync(message);
            if (refusal is not null) Refuse(message, refusal, report);
            else ok.Add(await ToCheckedAsync(message, report!));
        }
        foreach (var province in ok.GroupBy(c => c.Province))
        {
            var items = province.ToList();
            var fresh = await grains.GetGrain<IFleetGrain>(province.Key).Report(items.Select(c => c.Sample).ToList());
            var urgent = new List<Alert>();
            for (int i = 0; i < items.Count; i++)
            {
                var c = items[i];
                switch (fresh[i])
                {
                    case ReportFreshness.Duplicate:
                        // Sent again after a lost acknowledgement (or replayed by whoever holds the device's TLS key): nothing new.
                        Interlocked.Increment(ref _replayed);
                        Refuse(c.Message, new Refusal(DeviceEventKindsInLedger.TelemetryReplayed, $"sequence {c.Report.Sequence} was already received"), c.Report);
                        continue;
                    case ReportFreshness.Stale:
                        Refuse(c.Message, new Refusal("stale", $"sequence {c.Report.Sequence} is older than the last {FleetGrain.ReplayWindow} reports"), c.Report);
                        continue;
                }
                Interlocked.Increment(ref _accepted);
                influx.TryAdd(HealthPoints.Lines(c.Report, c.Province, c.Sample.Station));
                foreach (var e in c.Report.Events)
                    if (Record(c, e) is { } alert) urgent.Add(alert);
            }
            if (urgent.Count > 0) await grains.GetGrain<INsocGrain>(0).Raise(urgent);
        }
        foreach (var message in batch) await message.Ack();
        BatchDone?.Invoke(batch.Count);
    }

    private sealed record Refusal(string Reason, string Detail);

    private async Task<(HealthReport? Report, Refusal? Refusal)> CheckAsync(InboundTelemetry message)
    {
        bool relayed = Topics.TryParseRelayedTelemetry(message.Topic, out _, out string deviceId);
        if (!relayed && !Topics.TryParseTelemetry(message.Topic, out deviceId))
            return (null, new Refusal("misaddressed", $"'{message.Topic}' is not a telemetry topic"));
        if (message.Payload.Length > HealthCodec.MaxWireBytes)
            return (null, new Refusal("oversized", $"{message.Payload.Length} bytes, at most {HealthCodec.MaxWireBytes}"));
        if (!_pace.TryTake(deviceId, _quota))
            return (null, new Refusal("rate_limited", $"more than {options.Value.TelemetryPerMinute:0.#} reports a minute (bursts of {options.Value.TelemetryBurst})"));
        SignedHealthReport signed;
        try { signed = SignedHealthReport.Decode(message.Payload); }
        catch (HealthFormatException e) { return (null, new Refusal("malformed", e.Message)); }
        var report = signed.Report;
        if (report.DeviceId != deviceId)
            return (report, new Refusal("device_mismatch", $"the report names '{report.DeviceId}', the topic '{deviceId}'"));
        if (message.Sender is null)
            return (report, new Refusal("unknown_sender", "the broker did not say who sent it"));
        if (relayed)
        {
            // A station's relay for one of its TPS devices: the device's own signature, and its TPS in the station's kecamatan.
            if (!message.Sender.Station) return (report, new Refusal("misaddressed", "only a PPK station relays health reports"));
            var relayedDevice = await devices.FindAsync(deviceId);
            if (relayedDevice is null) return (report, new Refusal("unknown_device", $"'{deviceId}' is not a registered device"));
            if (!relayedDevice.Tps.Value.StartsWith(message.Sender.Assignment, StringComparison.Ordinal))
                return (report, new Refusal("device_not_in_station_kecamatan",
                    $"'{deviceId}' is registered for TPS {relayedDevice.Tps.Value}, outside the relaying station's kecamatan {message.Sender.Assignment}"));
            if (!signed.VerifySignature(relayedDevice.PublicKey))
                return (report, new Refusal("bad_signature", "the relayed report's signature does not verify with the device's registered key"));
            return (report, null);
        }
        if (message.Sender.Station)
            // A station is not in the device registry: the broker's check of its certificate (the topic is its own) vouches for it.
            return RegionCodeOk(message.Sender.Assignment, 6) ? (report, null) : (report, new Refusal("unknown_device", $"station assignment '{message.Sender.Assignment}'"));
        var device = await devices.FindAsync(deviceId);
        if (device is null) return (report, new Refusal("unknown_device", $"'{deviceId}' is not a registered device"));
        if (device.Tps.Value != message.Sender.Assignment)
            return (report, new Refusal("device_not_assigned_to_tps", $"'{deviceId}' is registered for TPS {device.Tps.Value}, its certificate says {message.Sender.Assignment}"));
        if (!signed.VerifySignature(device.PublicKey))
            return (report, new Refusal("bad_signature", "the report's signature does not verify with the device's registered key"));
        return (report, null);
    }

    private static bool RegionCodeOk(string code, int length) => code.Length == length && code.All(char.IsAsciiDigit);

    private async Task<Checked> ToCheckedAsync(InboundTelemetry message, HealthReport r)
    {
        // A relayed report is its TPS device's: placed at the device's TPS, not at the station.
        bool relayed = Topics.TryParseRelayedTelemetry(message.Topic, out _, out _);
        string place = relayed ? (await devices.FindAsync(r.DeviceId))!.Tps.Value : message.Sender!.Assignment;
        bool station = !relayed && message.Sender!.Station;
        var sample = new HealthSample(r.DeviceId, place, station, r.Sequence, message.ReceivedAt, r.DeviceTime,
            r.Battery?.BusMillivolts, r.Battery?.CurrentMilliamps, r.CpuDeciCelsius, r.Outbox.Forms, r.Outbox.OldestAgeSeconds,
            r.ClockOffsetMilliseconds, r.LinkRoundTripMilliseconds, r.TamperOpen, r.AppVersion);
        return new Checked(message, r, sample, place[..2]);
    }

    /// <summary>A device's own event becomes a security event in the ledger; a tamper opening is also an alert now.</summary>
    private Alert? Record(Checked c, DeviceEvent e)
    {
        string kind = e.Kind switch
        {
            DeviceEventKind.TamperOpened => DeviceEventKindsInLedger.Tamper,
            DeviceEventKind.TamperClosed => DeviceEventKindsInLedger.TamperClosed,
            DeviceEventKind.ConfigRefused => DeviceEventKindsInLedger.ConfigRefused,
            DeviceEventKind.ReceiptProofFailed => DeviceEventKindsInLedger.ReceiptProofFailed,
            DeviceEventKind.ClockJump => DeviceEventKindsInLedger.ClockJump,
            _ => DeviceEventKindsInLedger.TlsRefused,
        };
        var severity = e.Kind switch
        {
            DeviceEventKind.TamperOpened or DeviceEventKind.ReceiptProofFailed => SecuritySeverity.Critical,
            DeviceEventKind.TamperClosed => SecuritySeverity.Info,
            _ => SecuritySeverity.Warning,
        };
        events.Record(new SecurityEvent
        {
            Ts = c.Message.ReceivedAt, Kind = kind, Severity = severity, Source = DeviceEventKindsInLedger.Source,
            DeviceId = c.Report.DeviceId, Tps = c.Sample.Station ? null : c.Sample.Tps, Detail = e.Detail,
            Evidence = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["device_time"] = e.At.ToString("O", CultureInfo.InvariantCulture),
                ["report_sequence"] = c.Report.Sequence.ToString(CultureInfo.InvariantCulture),
                ["place"] = c.Sample.Tps,
            },
        });
        return e.Kind != DeviceEventKind.TamperOpened ? null : new Alert(RuleCodes.Tamper, c.Report.DeviceId, SecuritySeverity.Critical, $"Casing perangkat dibuka — {c.Report.DeviceId}",
                $"{e.Detail} (jam perangkat {e.At:HH:mm:ss} UTC)", c.Message.ReceivedAt) { DeviceId = c.Report.DeviceId, Region = c.Sample.Tps };
    }

    private void Refuse(InboundTelemetry message, Refusal refusal, HealthReport? report)
    {
        if (refusal.Reason != DeviceEventKindsInLedger.TelemetryReplayed) Interlocked.Increment(ref _refused);
        string origin = message.Topic;
        if (!_refusals.ShouldReport(refusal.Reason, origin, out long more)) return;
        logger.LogWarning("Health report on {Topic} refused ({Reason}): {Detail}", message.Topic, refusal.Reason, refusal.Detail);
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["reason"] = refusal.Reason, ["topic"] = message.Topic, ["size"] = message.Payload.Length.ToString(CultureInfo.InvariantCulture),
        };
        if (report is not null) evidence["report_sequence"] = report.Sequence.ToString(CultureInfo.InvariantCulture);
        if (more > 0) evidence["repeats_since_last_report"] = more.ToString(CultureInfo.InvariantCulture);
        string? sender = Topics.TryParseTelemetry(message.Topic, out var own) ? own
            : Topics.TryParseRelayedTelemetry(message.Topic, out _, out var relayed) ? relayed : null;
        events.Record(new SecurityEvent
        {
            Ts = message.ReceivedAt,
            Kind = refusal.Reason == DeviceEventKindsInLedger.TelemetryReplayed ? DeviceEventKindsInLedger.TelemetryReplayed : DeviceEventKindsInLedger.TelemetryRefused,
            Severity = refusal.Reason is "bad_signature" or "device_mismatch" or "device_not_assigned_to_tps" or "device_not_in_station_kecamatan"
                ? SecuritySeverity.Warning : SecuritySeverity.Info,
            Source = SecurityEventSources.Ingest,
            DeviceId = sender,
            Detail = $"Health report refused ({refusal.Reason}): {refusal.Detail}.",
            Evidence = evidence,
        });
    }
}
