using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Core.Protocol;

/// <summary>
/// MQTT topics of protocol v1. A device publishes each form to its TPS's topic and hears back on its own
/// receipt topic (given as the MQTT 5 response topic of the publish).
/// </summary>
public static class Topics
{
    public const string Prefix = "kpu/v1";

    /// <summary>Where the cloud ingest listens for C.Hasil submissions from every TPS.</summary>
    public const string AllSubmissions = "kpu/v1/tps/+/c1/+";

    /// <summary>Where the cloud listens for the form images (chunks) of every TPS.</summary>
    public const string AllImages = "kpu/v1/tps/+/img/+";

    public static string Submission(TpsCode tps, ContestId contest) => $"{Prefix}/tps/{tps.Value}/c1/{contest.Slug()}";

    /// <summary>Where a form's page images go, in chunks, after its tally.</summary>
    public static string Image(TpsCode tps, ContestId contest) => $"{Prefix}/tps/{tps.Value}/img/{contest.Slug()}";

    /// <summary>Where the cloud answers a device's image chunks (given as the response topic of each chunk).</summary>
    public static string ImageAck(string deviceId) => $"{Prefix}/device/{deviceId}/image";

    public static string Receipt(string deviceId) => $"{Prefix}/device/{deviceId}/receipt";

    /// <summary>Where the cloud pushes a device its configuration bundle (retained).</summary>
    public static string Config(string deviceId) => $"{Prefix}/device/{deviceId}/config";

    /// <summary>Where a device reports its health (the configuration bundle names it; the NSOC reads it).</summary>
    public static string Telemetry(string deviceId) => $"{Prefix}/device/{deviceId}/telemetry";

    /// <summary>Parses a submission topic; false for anything else (the message is then misaddressed).</summary>
    public static bool TryParseSubmission(string topic, out TpsCode tps, out ContestId contest) =>
        TryParseTpsTopic(topic, "c1", out tps, out contest);

    private static bool TryParseTpsTopic(string topic, string kind, out TpsCode tps, out ContestId contest)
    {
        tps = default;
        contest = default;
        var parts = topic.Split('/');
        return parts.Length == 6 && parts[0] == "kpu" && parts[1] == "v1" && parts[2] == "tps" && parts[4] == kind
               && TpsCode.TryParse(parts[3], out tps) && Contests.TryParseSlug(parts[5], out contest) && parts[5] == contest.Slug();
    }

    /// <summary>Parses an image topic; false for anything else.</summary>
    public static bool TryParseImage(string topic, out TpsCode tps, out ContestId contest) => TryParseTpsTopic(topic, "img", out tps, out contest);

    /// <summary>Image acknowledgements may only go to a device's image topic.</summary>
    public static bool IsImageAckTopic(string? topic) => IsDeviceTopic(topic, "/image");

    /// <summary>The device id in a device image-answer topic (<c>kpu/v1/device/{id}/image</c>), or null.</summary>
    public static string? DeviceOfImageAckTopic(string? topic) => IsImageAckTopic(topic) ? topic!.Split('/')[3] : null;

    /// <summary>Receipts may only go to a device receipt topic, so a forged response topic cannot steer them elsewhere.</summary>
    public static bool IsReceiptTopic(string? topic) => IsDeviceTopic(topic, "/receipt");

    private static bool IsDeviceTopic(string? topic, string suffix) =>
        topic is not null && topic.StartsWith(Prefix + "/device/", StringComparison.Ordinal) && topic.EndsWith(suffix, StringComparison.Ordinal)
        && topic.Count(c => c == '/') == 4 && !topic.Contains('+') && !topic.Contains('#') && !topic.Contains("//");
}
