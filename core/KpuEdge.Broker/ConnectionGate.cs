using System.Net;

namespace KpuEdge.Broker;

/// <summary>
/// Counts a broker's connections — all open ones, and those still in their TLS handshake — in all and per source
/// address, and says whether one more may come in. One lock: a few integer updates per connection.
/// </summary>
public sealed class ConnectionGate(BrokerLimits limits)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, (int Open, int Pending)> _bySource = [];
    private int _open, _pending;

    public int Open { get { lock (_lock) return _open; } }
    public int Pending { get { lock (_lock) return _pending; } }

    /// <summary>Admits a new connection as pending its handshake; null when admitted, else why not.</summary>
    public string? TryEnter(IPAddress source)
    {
        lock (_lock)
        {
            _bySource.TryGetValue(source, out var counts);
            if (_open >= limits.MaxConnections) return $"{_open} connections are open (at most {limits.MaxConnections})";
            if (_pending >= limits.MaxPendingHandshakes) return $"{_pending} connections are in their TLS handshake (at most {limits.MaxPendingHandshakes})";
            if (counts.Pending >= limits.MaxPendingHandshakesPerSource)
                return $"{counts.Pending} connections from {source} are in their TLS handshake (at most {limits.MaxPendingHandshakesPerSource} per address)";
            if (counts.Open >= limits.MaxConnectionsPerSource)
                return $"{counts.Open} connections from {source} are open (at most {limits.MaxConnectionsPerSource} per address)";
            _bySource[source] = (counts.Open + 1, counts.Pending + 1);
            _open++;
            _pending++;
            return null;
        }
    }

    /// <summary>The handshake is over (done or failed): the connection no longer counts as pending.</summary>
    public void HandshakeOver(IPAddress source)
    {
        lock (_lock)
        {
            var counts = _bySource[source];
            _bySource[source] = counts with { Pending = counts.Pending - 1 };
            _pending--;
        }
    }

    public void Leave(IPAddress source)
    {
        lock (_lock)
        {
            var counts = _bySource[source];
            if (counts.Open == 1) _bySource.Remove(source);
            else _bySource[source] = counts with { Open = counts.Open - 1 };
            _open--;
        }
    }
}
