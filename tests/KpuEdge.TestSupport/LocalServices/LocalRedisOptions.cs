namespace KpuEdge.TestSupport.LocalServices;

/// <summary>How <see cref="LocalRedis"/> starts its server.</summary>
public sealed record LocalRedisOptions
{
    /// <summary>The TCP port on 127.0.0.1; 0 takes a free one (and another if that is taken before the server binds it).</summary>
    public int Port { get; init; }

    /// <summary>The redis-server binary; null looks in PATH, then /usr/bin.</summary>
    public string? ServerPath { get; init; }

    /// <summary>How long the server may take to answer PING (loading its append-only file included).</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>More configuration lines (directive → value, written as is), applied last: they override the generated ones.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    internal void Validate()
    {
        if (Port is < 0 or > 65535) throw new ArgumentOutOfRangeException(nameof(Port), Port, "a TCP port, or 0 for a free one");
    }
}
