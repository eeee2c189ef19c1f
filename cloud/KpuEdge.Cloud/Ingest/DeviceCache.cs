using System.Collections.Concurrent;
using KpuEdge.Crypto;

namespace KpuEdge.Cloud.Ingest;

/// <summary>
/// A node's bounded memory of the device registry: devices found (kept until evicted: a device id never gets another
/// certificate), and ids the registry did not hold, each remembered as unknown until a moment (so a flood of forms
/// naming an unregistered device costs one registry read, not one per form). Each kind holds at most
/// <see cref="Capacity"/> entries on its own, so a flood of made-up ids never pushes registered devices out; a full kind
/// drops a tenth of its entries (in the dictionary's order, the hashes' — no order an attacker could steer) before the
/// next one is added. Thread-safe.
/// </summary>
public sealed class DeviceCache(int capacity, TimeProvider time)
{
    private readonly Bounded<DeviceRecord> _found = new(Math.Max(1, capacity));
    private readonly Bounded<DateTimeOffset> _unknown = new(Math.Max(1, capacity));

    public int Capacity => _found.Capacity;

    /// <summary>Devices held now.</summary>
    public int Count => _found.Count;

    /// <summary>Ids remembered as unknown now (some perhaps past their moment, dropped when next asked for or evicted).</summary>
    public int UnknownCount => _unknown.Count;

    /// <summary>
    /// True if the cache knows the answer: <paramref name="device"/> is the registered device, or null while the id is
    /// remembered as unknown. False if the registry must be asked.
    /// </summary>
    public bool TryGet(string deviceId, out DeviceRecord? device)
    {
        device = null;
        if (_found.TryGet(deviceId, out var found))
        {
            device = found;
            return true;
        }
        if (!_unknown.TryGet(deviceId, out var until)) return false;
        if (time.GetUtcNow() < until) return true;
        _unknown.Remove(deviceId, until);
        return false;
    }

    public void Add(DeviceRecord device)
    {
        _found.Put(device.DeviceId, device);
        ForgetUnknown(device.DeviceId);
    }

    /// <summary>Remembers that the registry does not hold <paramref name="deviceId"/>, for <paramref name="period"/>.</summary>
    public void AddUnknown(string deviceId, TimeSpan period)
    {
        if (period > TimeSpan.Zero) _unknown.Put(deviceId, time.GetUtcNow() + period);
    }

    /// <summary>Forgets that <paramref name="deviceId"/> was unknown (it has just been registered).</summary>
    public void ForgetUnknown(string deviceId)
    {
        if (_unknown.TryGet(deviceId, out var until)) _unknown.Remove(deviceId, until);
    }

    /// <summary>Forgets every id remembered as unknown (the registry has just taken devices in).</summary>
    public void ForgetUnknown() => _unknown.Clear();

    /// <summary>A dictionary that holds at most its capacity, counting its entries without locking them all.</summary>
    private sealed class Bounded<TValue>(int capacity)
    {
        private readonly ConcurrentDictionary<string, TValue> _entries = new(StringComparer.Ordinal);
        private int _count;

        public int Capacity { get; } = capacity;

        public int Count => Volatile.Read(ref _count);

        public bool TryGet(string key, out TValue value) => _entries.TryGetValue(key, out value!);

        public void Put(string key, TValue value)
        {
            if (Count >= Capacity) Evict(Math.Max(1, Capacity / 10));
            while (true)
            {
                if (_entries.TryAdd(key, value))
                {
                    Interlocked.Increment(ref _count);
                    return;
                }
                if (_entries.TryGetValue(key, out var held) && _entries.TryUpdate(key, value, held)) return;
            }
        }

        public void Remove(string key, TValue value)
        {
            if (_entries.TryRemove(new KeyValuePair<string, TValue>(key, value))) Interlocked.Decrement(ref _count);
        }

        public void Clear()
        {
            foreach (var (key, value) in _entries) Remove(key, value);
        }

        private void Evict(int howMany)
        {
            foreach (var (key, value) in _entries)
            {
                if (howMany-- <= 0) return;
                Remove(key, value);
            }
        }
    }
}
