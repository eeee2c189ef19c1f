using System.Globalization;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Nsoc.Fleet;
using KpuEdge.Nsoc.Incidents;

namespace KpuEdge.Nsoc.Rules;

/// <summary>
/// What the rules conclude from what they are shown: security events, the fleet's conditions, the nodes' figures and
/// the provinces' progress, each judged at a time the caller gives (so the rules run on recorded telemetry and a fake
/// clock in tests). Holds what a rule must remember between evaluations: refusals per source within their window, when
/// a province's count last moved, since when a node's backlog grows. One instance lives in the rules grain.
/// </summary>
public sealed class RuleEngine(NsocRules rules, RegionTree tree)
{
    private readonly Dictionary<string, (NodeStats Last, NodeStats? Previous, DateTimeOffset? GrowingSince)> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Queue<DateTimeOffset>> _refusalsBySource = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Reported, DateTimeOffset Since)> _progress = new(StringComparer.Ordinal);

    public IEnumerable<NodeStats> Nodes => _nodes.Values.Select(n => n.Last).OrderBy(n => n.Node, StringComparer.Ordinal);

    /// <summary>Forms answered a second by all nodes, between each node's last two figures.</summary>
    public double FormsPerSecond => _nodes.Values.Sum(n =>
        n.Previous is { } p && n.Last.At > p.At ? (n.Last.Answered - p.Answered) / (n.Last.At - p.At).TotalSeconds : 0);

    /// <summary>A node's figures as its pump reports them.</summary>
    public void Node(NodeStats node)
    {
        var previous = _nodes.TryGetValue(node.Node, out var known) ? known : default;
        DateTimeOffset? growingSince = previous.Last is { } last && node.Backlog > last.Backlog ? previous.GrowingSince ?? last.At : null;
        _nodes[node.Node] = (node, previous.Last, growingSince);
    }

    /// <summary>Nodes whose backlog has grown for the rule's time and stands above its bound.</summary>
    public IEnumerable<Alert> JudgeNodes(DateTimeOffset now)
    {
        var rule = rules.IngestBacklog;
        if (!rule.Enabled) yield break;
        foreach (var (name, (last, _, growingSince)) in _nodes)
            if (growingSince is { } since && now - since >= TimeSpan.FromSeconds(rule.GrowingForSeconds) && last.Backlog >= rule.AtLeast)
                yield return new Alert(RuleCodes.IngestBacklog, name, rule.Severity, $"Antrean ingest node {name} terus bertambah",
                    $"{last.Backlog:N0} formulir menunggu; bertambah sejak {since:HH:mm:ss} UTC.", now);
    }

    /// <summary>What a security event means for the wall: most kinds map to one rule; certificate refusals only in numbers.</summary>
    public Alert? FromEvent(SecurityEvent e)
    {
        string? tps = e.Tps;
        string device = e.DeviceId ?? e.Subject ?? "?";
        switch (e.Kind)
        {
            case SecurityEventKinds.ChainFork or SecurityEventKinds.ChainRewind or SecurityEventKinds.ChainJump or SecurityEventKinds.FormReplayed
                or SecurityEventKinds.RevokedDeviceSubmission or SecurityEventKinds.LogTampered when rules.ChainIntegrity.Enabled:
                return new Alert(RuleCodes.ChainIntegrity, $"{e.Kind}:{device}", rules.ChainIntegrity.Severity,
                    Title(e.Kind, device), e.Detail, e.Ts) { DeviceId = e.DeviceId, Region = tps, EventId = e.Id };
            case SecurityEventKinds.ImageRefused when rules.ImageHashMismatch.Enabled && e.Evidence?.GetValueOrDefault("reason") == "hash_mismatch":
                return new Alert(RuleCodes.ImageHashMismatch, device, rules.ImageHashMismatch.Severity,
                    $"Foto formulir tidak cocok dengan hash yang ditandatangani — {device}", e.Detail, e.Ts) { DeviceId = e.DeviceId, Region = tps, EventId = e.Id };
            case SecurityEventKinds.DhasilMismatch when rules.DhasilMismatch.Enabled:
                return new Alert(RuleCodes.DhasilMismatch, $"{e.Subject}:{e.Evidence?.GetValueOrDefault("contest")}", rules.DhasilMismatch.Severity,
                    $"D.Hasil kecamatan {e.Subject} ({e.Evidence?.GetValueOrDefault("contest")}) berbeda dari jumlah C.Hasil — {device}", e.Detail, e.Ts)
                    { DeviceId = e.DeviceId, Region = e.Subject, EventId = e.Id };
            case SecurityEventKinds.PpkStatementRefused when rules.PpkStatementRefused.Enabled:
                return new Alert(RuleCodes.PpkStatementRefused, $"{device}:{e.Evidence?.GetValueOrDefault("reason")}", rules.PpkStatementRefused.Severity,
                    $"Pernyataan PPK ditolak ({e.Evidence?.GetValueOrDefault("reason")}) — {device}", e.Detail, e.Ts)
                    { DeviceId = e.DeviceId, Region = e.Subject, EventId = e.Id };
            case SecurityEventKinds.CertificateRefused when rules.CertificateRefusals.Enabled:
            {
                string source = SourceAddress(e);
                if (!_refusalsBySource.TryGetValue(source, out var times))
                {
                    if (_refusalsBySource.Count >= 100_000) _refusalsBySource.Clear(); // a spray of addresses: start counting again
                    _refusalsBySource[source] = times = new Queue<DateTimeOffset>();
                }
                int repeats = int.TryParse(e.Evidence?.GetValueOrDefault("repeats_since_last_report"), CultureInfo.InvariantCulture, out var r) ? r : 0;
                for (int i = 0; i <= Math.Min(repeats, 10_000); i++) times.Enqueue(e.Ts);
                var window = TimeSpan.FromMinutes(rules.CertificateRefusals.WithinMinutes);
                while (times.Count > 0 && e.Ts - times.Peek() > window) times.Dequeue();
                return times.Count >= rules.CertificateRefusals.AtLeast
                    ? new Alert(RuleCodes.CertificateRefusals, source, rules.CertificateRefusals.Severity,
                        $"Sertifikat ditolak berulang dari {source}", $"{times.Count} penolakan dalam {rules.CertificateRefusals.WithinMinutes} menit; terakhir: {e.Detail}", e.Ts) { EventId = e.Id }
                    : null;
            }
            case DeviceEventKindsInLedger.Tamper when rules.Tamper.Enabled:
                return new Alert(RuleCodes.Tamper, device, rules.Tamper.Severity, $"Casing perangkat dibuka — {device}", e.Detail, e.Ts)
                    { DeviceId = e.DeviceId, Region = e.Evidence?.GetValueOrDefault("place") ?? tps, EventId = e.Id };
            case DeviceEventKindsInLedger.ConfigRefused or DeviceEventKindsInLedger.ReceiptProofFailed or DeviceEventKindsInLedger.ClockJump
                or DeviceEventKindsInLedger.TlsRefused when rules.DeviceSecurityEvent.Enabled:
                return new Alert(RuleCodes.DeviceSecurityEvent, $"{e.Kind}:{device}", rules.DeviceSecurityEvent.Severity, Title(e.Kind, device), e.Detail, e.Ts)
                    { DeviceId = e.DeviceId, Region = e.Evidence?.GetValueOrDefault("place") ?? tps, EventId = e.Id };
            default:
                return null;
        }
    }

    /// <summary>The fleet grains' conditions as alerts, for the rules that are on.</summary>
    public IEnumerable<Alert> FromConditions(IEnumerable<DeviceCondition> conditions, DateTimeOffset now)
    {
        foreach (var c in conditions)
        {
            RuleBase rule = c.Rule switch
            {
                RuleCodes.DeviceSilent => rules.DeviceSilent,
                RuleCodes.Tamper => rules.Tamper,
                RuleCodes.BatteryLow => rules.BatteryLow,
                RuleCodes.OnBattery => rules.OnBattery,
                _ => rules.ClockSkew,
            };
            if (rule.Enabled)
                yield return new Alert(c.Rule, c.DeviceId, rule.Severity, FleetTitle(c.Rule, c.DeviceId), c.Detail, now) { DeviceId = c.DeviceId, Region = c.Tps };
        }
    }

    /// <summary>Provinces watched (between the rule's shares) whose count of TPS has not moved for the rule's time.</summary>
    public IEnumerable<Alert> JudgeProgress(IReadOnlyDictionary<string, long> progress, DateTimeOffset now)
    {
        var rule = rules.RegionStalled;
        foreach (var province in tree.ChildrenOf(RegionCode.Nasional))
        {
            string code = province.ToString();
            long reported = progress.GetValueOrDefault(code);
            if (!_progress.TryGetValue(code, out var known) || known.Reported != reported) _progress[code] = known = (reported, now);
            long expected = tree.TpsCountOf(province);
            double percent = expected == 0 ? 100 : 100.0 * reported / expected;
            if (rule.Enabled && percent >= rule.FromPercent && percent < rule.UntilPercent && now - known.Since >= TimeSpan.FromMinutes(rule.AfterMinutes))
                yield return new Alert(RuleCodes.RegionStalled, code, rule.Severity, $"Progres {tree.NameOf(province)} berhenti",
                    $"{reported:N0} dari {expected:N0} TPS ({percent:0.0}%), tidak bertambah sejak {known.Since:HH:mm} UTC.", now) { Region = code };
        }
    }

    private static string SourceAddress(SecurityEvent e)
    {
        string source = e.Evidence?.GetValueOrDefault("source") ?? e.Subject ?? "?";
        // The address without its port: one attacker reconnects from many ports.
        if (source.StartsWith('[') && source.IndexOf("]:", StringComparison.Ordinal) is > 0 and var close) return source[..(close + 1)];
        int colon = source.LastIndexOf(':');
        return colon > 0 && source.IndexOf(':') == colon ? source[..colon] : source;
    }

    private static string Title(string kind, string device) => kind switch
    {
        SecurityEventKinds.ChainFork => $"Rantai formulir bercabang (fork) — {device}",
        SecurityEventKinds.ChainRewind => $"Rantai formulir mundur (rewind) — {device}",
        SecurityEventKinds.ChainJump => $"Nomor urut formulir melompat — {device}",
        SecurityEventKinds.FormReplayed => $"Formulir perangkat lain dikirim ulang — {device}",
        SecurityEventKinds.RevokedDeviceSubmission => $"Perangkat yang dicabut mengirim formulir — {device}",
        SecurityEventKinds.LogTampered => "Log transparansi tidak cocok dengan checkpoint terakhir",
        DeviceEventKindsInLedger.ConfigRefused => $"Paket konfigurasi ditolak perangkat — {device}",
        DeviceEventKindsInLedger.ReceiptProofFailed => $"Bukti tanda terima gagal diperiksa perangkat — {device}",
        DeviceEventKindsInLedger.ClockJump => $"Jam perangkat melompat — {device}",
        DeviceEventKindsInLedger.TlsRefused => $"Koneksi TLS perangkat berulang ditolak — {device}",
        _ => $"{kind} — {device}",
    };

    private static string FleetTitle(string rule, string device) => rule switch
    {
        RuleCodes.DeviceSilent => $"Perangkat diam — {device}",
        RuleCodes.Tamper => $"Casing perangkat terbuka — {device}",
        RuleCodes.BatteryLow => $"Baterai lemah — {device}",
        RuleCodes.OnBattery => $"Perangkat lama memakai baterai — {device}",
        _ => $"Jam perangkat menyimpang — {device}",
    };
}
