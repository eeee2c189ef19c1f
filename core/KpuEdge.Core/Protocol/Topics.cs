using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Core.Protocol;

/// <summary>
/// What a form or image topic says: whose TPS and contest it carries, and who sent it. The broker lets a client publish
/// only under its own name (its certificate's), so <see cref="Sender"/> is the authenticated sender — the one identity
/// every answer is addressed to, whatever the message itself asks.
/// </summary>
public readonly record struct TpsTopic(TpsCode Tps, ContestId Contest, string Sender);

/// <summary>
/// MQTT topics of protocol v1. A device publishes each form to its TPS's topic under its own name
/// (<c>kpu/v1/tps/{tps}/c1/{contest}/{sender}</c>) and hears back on its own receipt topic: the cloud answers the
/// sender the topic names (which the broker's ACL ties to the client's certificate), never a response topic the
/// message asks for.
/// </summary>
public static class Topics
{
    public const string Prefix = "kpu/v1";

    /// <summary>Where the cloud ingest listens for C.Hasil submissions from every TPS and sender.</summary>
    public const string AllSubmissions = "kpu/v1/tps/+/c1/+/+";

    /// <summary>Where the cloud listens for every device's and station's health reports.</summary>
    public const string AllTelemetry = "kpu/v1/device/+/telemetry";

    /// <summary>Where the cloud listens for the health reports PPK stations relay for their TPS devices.</summary>
    public const string AllRelayedTelemetry = "kpu/v1/relay/+/telemetry/+";

    /// <summary>Where the cloud listens for every PPK station's statements (verification, objection, correction, D.Hasil).</summary>
    public const string AllPpkStatements = "kpu/v1/ppk/+/statement";

    /// <summary>Where the cloud listens for the form images (chunks) of every TPS and sender.</summary>
    public const string AllImages = "kpu/v1/tps/+/img/+/+";

    /// <summary>Where <paramref name="sender"/> (the TPS device itself, or the PPK station relaying for it) publishes a form.</summary>
    public static string Submission(TpsCode tps, ContestId contest, string sender) => $"{Prefix}/tps/{tps.Value}/c1/{contest.Slug()}/{CheckSender(sender)}";

    /// <summary>Where a form's page images go, in chunks, after its tally.</summary>
    public static string Image(TpsCode tps, ContestId contest, string sender) => $"{Prefix}/tps/{tps.Value}/img/{contest.Slug()}/{CheckSender(sender)}";

    /// <summary>Where the cloud answers a device's image chunks.</summary>
    public static string ImageAck(string deviceId) => $"{Prefix}/device/{deviceId}/image";

    public static string Receipt(string deviceId) => $"{Prefix}/device/{deviceId}/receipt";

    /// <summary>Where the cloud pushes a device its configuration bundle (retained).</summary>
    public static string Config(string deviceId) => $"{Prefix}/device/{deviceId}/config";

    /// <summary>Where PPK station <paramref name="station"/> publishes its signed statements; the cloud answers on its receipt topic.</summary>
    public static string PpkStatement(string station) => $"{Prefix}/ppk/{CheckSender(station)}/statement";

    /// <summary>The station a statement topic names; false for anything else.</summary>
    public static bool TryParsePpkStatement(string? topic, out string station)
    {
        station = "";
        if (topic is null) return false;
        var parts = topic.Split('/');
        if (parts.Length != 5 || parts[0] != "kpu" || parts[1] != "v1" || parts[2] != "ppk" || parts[4] != "statement" || !DeviceName.IsValid(parts[3])) return false;
        station = parts[3];
        return true;
    }

    /// <summary>Where a device reports its health (the configuration bundle names it; the NSOC reads it).</summary>
    public static string Telemetry(string deviceId) => $"{Prefix}/device/{deviceId}/telemetry";

    /// <summary>Where PPK station <paramref name="station"/> forwards the health report of <paramref name="device"/>, a TPS device it serves.</summary>
    public static string RelayedTelemetry(string station, string device) => $"{Prefix}/relay/{CheckSender(station)}/telemetry/{CheckSender(device)}";

    /// <summary>Parses a relayed telemetry topic into the station that relays and the device whose report it is.</summary>
    public static bool TryParseRelayedTelemetry(string? topic, out string station, out string device)
    {
        station = device = "";
        if (topic is null) return false;
        var parts = topic.Split('/');
        if (parts.Length != 6 || parts[0] != "kpu" || parts[1] != "v1" || parts[2] != "relay" || parts[4] != "telemetry") return false;
        if (!DeviceName.IsValid(parts[3]) || !DeviceName.IsValid(parts[5])) return false;
        (station, device) = (parts[3], parts[5]);
        return true;
    }

    /// <summary>Parses a submission topic; false for anything else (the message is then misaddressed).</summary>
    public static bool TryParseSubmission(string? topic, out TpsTopic parsed) => TryParseTpsTopic(topic, "c1", out parsed);

    /// <summary>Parses an image topic; false for anything else.</summary>
    public static bool TryParseImage(string? topic, out TpsTopic parsed) => TryParseTpsTopic(topic, "img", out parsed);

    private static bool TryParseTpsTopic(string? topic, string kind, out TpsTopic parsed)
    {
        parsed = default;
        if (topic is null) return false;
        var parts = topic.Split('/');
        if (parts.Length != 7 || parts[0] != "kpu" || parts[1] != "v1" || parts[2] != "tps" || parts[4] != kind) return false;
        if (!TpsCode.TryParse(parts[3], out var tps) || !Contests.TryParseSlug(parts[5], out var contest) || parts[5] != contest.Slug()) return false;
        if (!DeviceName.IsValid(parts[6])) return false;
        parsed = new TpsTopic(tps, contest, parts[6]);
        return true;
    }

    /// <summary>A device's or station's telemetry topic (<c>kpu/v1/device/{name}/telemetry</c>), the name it carries.</summary>
    public static bool TryParseTelemetry(string? topic, out string name)
    {
        name = "";
        if (!IsDeviceTopic(topic, "/telemetry")) return false;
        name = topic!.Split('/')[3];
        return DeviceName.IsValid(name);
    }

    /// <summary>Image acknowledgements may only go to a device's image topic.</summary>
    public static bool IsImageAckTopic(string? topic) => IsDeviceTopic(topic, "/image");

    /// <summary>Receipts may only go to a device receipt topic.</summary>
    public static bool IsReceiptTopic(string? topic) => IsDeviceTopic(topic, "/receipt");

    private static bool IsDeviceTopic(string? topic, string suffix) =>
        topic is not null && topic.StartsWith(Prefix + "/device/", StringComparison.Ordinal) && topic.EndsWith(suffix, StringComparison.Ordinal)
        && topic.Count(c => c == '/') == 4 && !topic.Contains('+') && !topic.Contains('#') && !topic.Contains("//");

    private static string CheckSender(string sender) =>
        DeviceName.IsValid(sender) ? sender : throw new ArgumentException($"Not a device or station name: '{sender}'.", nameof(sender));
}
