using KpuEdge.Core.Protocol;
using KpuEdge.Crypto.Pki;

namespace KpuEdge.Cloud.Security;

/// <summary>
/// Who may publish and subscribe to what, decided by the identity in the client's certificate:
/// a TPS device publishes only its own TPS's forms and images; a PPK station only those of TPS in its kecamatan (it
/// relays); both subscribe only to their own receipt, image and config topics. The cloud service reads forms and writes receipts.
/// </summary>
public static class TopicAcl
{
    public static bool MayPublish(KpuIdentity identity, string topic)
    {
        switch (identity.Role)
        {
            case KpuRole.Tps:
                return topic == Topics.Telemetry(identity.Name) || TpsOf(topic) is { } tps && tps.Value == identity.Assignment;
            case KpuRole.Ppk:
                return topic == Topics.Telemetry(identity.Name)
                       || TpsOf(topic) is { } relayed && relayed.Value.StartsWith(identity.Assignment, StringComparison.Ordinal);
            case KpuRole.Service:
                return Topics.IsReceiptTopic(topic) || Topics.IsImageAckTopic(topic) || IsConfigTopic(topic);
            default:
                return false;
        }
    }

    public static bool MaySubscribe(KpuIdentity identity, string topicFilter) => identity.Role switch
    {
        KpuRole.Tps or KpuRole.Ppk => topicFilter == Topics.Receipt(identity.Name) || topicFilter == Topics.ImageAck(identity.Name)
                                      || topicFilter == Topics.Config(identity.Name),
        KpuRole.Service => topicFilter is Topics.AllSubmissions or Topics.AllImages,
        _ => false,
    };

    /// <summary>The TPS a form or image topic is about; null for any other topic.</summary>
    private static Core.Regions.TpsCode? TpsOf(string topic) =>
        Topics.TryParseSubmission(topic, out var tps, out _) || Topics.TryParseImage(topic, out tps, out _) ? tps : null;

    private static bool IsConfigTopic(string topic) =>
        topic.StartsWith(Topics.Prefix + "/device/", StringComparison.Ordinal) && topic.EndsWith("/config", StringComparison.Ordinal)
        && topic.Count(c => c == '/') == 4 && !topic.Contains('+') && !topic.Contains('#');
}
