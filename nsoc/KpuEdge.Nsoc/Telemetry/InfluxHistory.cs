using System.Globalization;
using System.Text.Json;
using KpuEdge.Core.Protocol;
using Microsoft.Extensions.Options;

namespace KpuEdge.Nsoc.Telemetry;

/// <summary>One reading of a device's history, as the drill-down charts it.</summary>
public sealed record HealthPoint(DateTimeOffset At, IReadOnlyDictionary<string, object?> Values);

/// <summary>Reads a device's telemetry history back from InfluxDB (<c>GET /query</c>, InfluxQL).</summary>
public sealed class InfluxHistory(IOptions<NsocOptions> options, IHttpClientFactory http)
{
    private static readonly string[] Fields =
        ["battery_mv", "current_ma", "cpu_dc", "outbox_forms", "outbox_oldest_s", "clock_offset_ms", "rtt_ms", "reconnects", "tamper", "disk_free_mb", "mem_free_mb"];

    /// <summary>The device's readings of the last <paramref name="hours"/> hours, oldest first, at most 1,440; empty without InfluxDB.</summary>
    /// <exception cref="ArgumentException">Not a device name.</exception>
    public async Task<(IReadOnlyList<HealthPoint> Health, IReadOnlyList<HealthPoint> Events)> DeviceAsync(string deviceId, int hours, CancellationToken cancellationToken)
    {
        if (!DeviceName.IsValid(deviceId)) throw new ArgumentException($"Not a device name: '{deviceId}'.", nameof(deviceId));
        var o = options.Value;
        if (o.InfluxUrl.Length == 0) return ([], []);
        hours = Math.Clamp(hours, 1, 24 * 7);
        // A device name is letters, digits, '.', '_' and '-': nothing that could leave the quoted literal.
        string health = $"SELECT {string.Join(", ", Fields.Select(f => $"\"{f}\""))} FROM \"{HealthPoints.HealthMeasurement}\" " +
                        $"WHERE \"device\" = '{deviceId}' AND time > now() - {hours}h ORDER BY time DESC LIMIT 1440";
        string events = $"SELECT \"detail\", \"kind\" FROM \"{HealthPoints.EventMeasurement}\" WHERE \"device\" = '{deviceId}' AND time > now() - {hours}h ORDER BY time DESC LIMIT 200";
        using var client = http.CreateClient(nameof(InfluxHistory));
        string url = $"{o.InfluxUrl.TrimEnd('/')}/query?db={o.InfluxDatabase}&rp={o.InfluxRetentionPolicy}&epoch=ms&q={Uri.EscapeDataString(health + "; " + events)}";
        using var response = await client.GetAsync(url, cancellationToken);
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(cancellationToken));
        var results = doc.RootElement.GetProperty("results");
        return (Read(results[0]), Read(results[1]));
    }

    private static IReadOnlyList<HealthPoint> Read(JsonElement result)
    {
        var points = new List<HealthPoint>();
        if (!result.TryGetProperty("series", out var series)) return points;
        foreach (var s in series.EnumerateArray())
        {
            var columns = s.GetProperty("columns").EnumerateArray().Select(c => c.GetString()!).ToArray();
            foreach (var row in s.GetProperty("values").EnumerateArray())
            {
                var values = new Dictionary<string, object?>(StringComparer.Ordinal);
                DateTimeOffset at = default;
                int i = 0;
                foreach (var cell in row.EnumerateArray())
                {
                    string column = columns[i++];
                    if (column == "time") at = DateTimeOffset.FromUnixTimeMilliseconds(cell.GetInt64());
                    else values[column] = cell.ValueKind switch
                    {
                        JsonValueKind.Number => cell.TryGetInt64(out var n) ? (object)n : cell.GetDouble(),
                        JsonValueKind.True => true,
                        JsonValueKind.False => false,
                        JsonValueKind.String => cell.GetString(),
                        _ => null,
                    };
                }
                points.Add(new HealthPoint(at, values));
            }
        }
        points.Reverse();
        return points;
    }

    public static string Format(DateTimeOffset t) => t.ToString("O", CultureInfo.InvariantCulture);
}
