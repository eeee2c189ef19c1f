using System.Text.RegularExpressions;

namespace KpuEdge.TestSupport.LocalServices;

/// <summary>How <see cref="LocalPostgres"/> starts its server; the defaults suit a ledger on a benchmark box.</summary>
public sealed partial record LocalPostgresOptions
{
    /// <summary>The database created (if missing) and named by <see cref="LocalPostgres.ConnectionString"/>.</summary>
    public string Database { get; init; } = "kpu";

    /// <summary>The TCP port on 127.0.0.1; 0 takes a free one (and another if that is taken before the server binds it).</summary>
    public int Port { get; init; }

    /// <summary>Where Debian installs PostgreSQL's versions, each with its bin/ (the newest is used).</summary>
    public string BinariesRoot { get; init; } = "/usr/lib/postgresql";

    /// <summary>How long the server may take to accept connections (crash recovery included).</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public string SharedBuffers { get; init; } = "256MB";

    public int MaxConnections { get; init; } = 200;

    /// <summary>More server settings (name → value, as <c>-c name=value</c>), applied last: they override the ones above.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    internal void Validate()
    {
        if (!DatabaseName().IsMatch(Database))
            throw new ArgumentException($"database name '{Database}': letters, digits and '_', not starting with a digit, at most 63", nameof(Database));
        if (Port is < 0 or > 65535) throw new ArgumentOutOfRangeException(nameof(Port), Port, "a TCP port, or 0 for a free one");
        if (MaxConnections < 1) throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "at least 1");
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    private static partial Regex DatabaseName();
}
