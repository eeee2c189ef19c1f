namespace KpuEdge.Nsoc;

/// <summary>The NSOC's settings (section <c>Nsoc</c> of a cloud node's configuration), checked at start.</summary>
public sealed class NsocOptions
{
    public const string Section = "Nsoc";

    /// <summary>Where the wall listens (its own port, apart from the public API); empty: this node serves no wall.</summary>
    public string WallUrl { get; set; } = "http://127.0.0.1:8090";

    /// <summary>InfluxDB 1.x's HTTP API (<c>/write</c>, <c>/query</c>); empty: telemetry is judged and counted but not kept.</summary>
    public string InfluxUrl { get; set; } = "";
    public string InfluxDatabase { get; set; } = "kpu";
    /// <summary>The retention policy the telemetry is written under and how long it keeps it.</summary>
    public string InfluxRetentionPolicy { get; set; } = "kpu_night";
    public string InfluxRetention { get; set; } = "30d";
    /// <summary>Lines waiting for InfluxDB at most; beyond, the oldest routine readings are dropped (and counted).</summary>
    public int InfluxBufferLines { get; set; } = 500_000;
    public int InfluxBatchLines { get; set; } = 5_000;

    /// <summary>The rules file (nsoc/rules.json's format); empty: the built-in rules.</summary>
    public string RulesPath { get; set; } = "";

    /// <summary>Incidents, the audit trail, accounts and sessions: SQLite here, unless <see cref="PostgresConnection"/> is set (a cluster).</summary>
    public string StorePath { get; set; } = "data/nsoc.db";
    public string? PostgresConnection { get; set; }

    /// <summary>At the first start (no account yet) an operator account <c>admin</c> is made with a random password written here (owner-only).</summary>
    public string AdminPasswordFile { get; set; } = "data/nsoc-admin-password";

    /// <summary>How long a login lasts.</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(12);

    /// <summary>Only over HTTPS may the session cookie be marked Secure; set when the wall is behind TLS.</summary>
    public bool SecureCookies { get; set; }

    /// <summary>Verified health reports a device may send a minute (a burst after an outage: <see cref="TelemetryBurst"/>).</summary>
    public double TelemetryPerMinute { get; set; } = 6;
    public int TelemetryBurst { get; set; } = 90;

    public IReadOnlyList<string> Problems()
    {
        var p = new List<string>();
        if (WallUrl.Length > 0 && !Uri.TryCreate(WallUrl, UriKind.Absolute, out _)) p.Add($"Nsoc:WallUrl '{WallUrl}' is not a URL.");
        if (InfluxUrl.Length > 0 && !Uri.TryCreate(InfluxUrl, UriKind.Absolute, out _)) p.Add($"Nsoc:InfluxUrl '{InfluxUrl}' is not a URL.");
        if (InfluxBufferLines < 1000) p.Add("Nsoc:InfluxBufferLines must be at least 1000.");
        if (InfluxBatchLines is < 1 or > 100_000) p.Add("Nsoc:InfluxBatchLines must be 1–100000.");
        if (!System.Text.RegularExpressions.Regex.IsMatch(InfluxDatabase, "^[A-Za-z0-9_]{1,64}$")) p.Add("Nsoc:InfluxDatabase: letters, digits and _ only.");
        if (!System.Text.RegularExpressions.Regex.IsMatch(InfluxRetentionPolicy, "^[A-Za-z0-9_]{1,64}$")) p.Add("Nsoc:InfluxRetentionPolicy: letters, digits and _ only.");
        if (!System.Text.RegularExpressions.Regex.IsMatch(InfluxRetention, "^[0-9]{1,5}[hdw]$")) p.Add("Nsoc:InfluxRetention: a duration such as 30d, 72h or 8w.");
        if (SessionLifetime <= TimeSpan.Zero) p.Add("Nsoc:SessionLifetime must be positive.");
        if (TelemetryPerMinute <= 0 || TelemetryBurst < 1) p.Add("Nsoc:TelemetryPerMinute and TelemetryBurst must be positive.");
        if (RulesPath.Length > 0 && !File.Exists(RulesPath)) p.Add($"Nsoc:RulesPath '{RulesPath}' does not exist.");
        return p;
    }
}
