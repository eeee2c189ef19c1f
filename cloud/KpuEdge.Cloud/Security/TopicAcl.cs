using KpuEdge.Core.Protocol;
using KpuEdge.Crypto.Pki;

namespace KpuEdge.Cloud.Security;

/// <summary>
/// Who may publish and subscribe to what, decided by the identity in the client's certificate:
/// a TPS device publishes only its own TPS's forms and images, and only under its own name; a PPK station only those
/// of TPS in its kecamatan (it relays), under its own name, and its own signed statements; both subscribe only to their own receipt, image and config
/// topics. The cloud service reads forms and writes answers. Because a form topic's last level must be the
/// publisher's own name, the ingest knows who sent each message and answers only that sender.
/// </summary>
public static class TopicAcl
{
    public static bool MayPublish(KpuIdentity identity, string topic)
    {
        switch (identity.Role)
        {
            case KpuRole.Tps:
                return topic == Topics.Telemetry(identity.Name)
                       || TpsTopicOf(topic) is { } own && own.Sender == identity.Name && own.Tps.Value == identity.Assignment;
            case KpuRole.Ppk:
                // A station relays its TPS devices' health reports under its own name; the ingest checks each device's
                // signature and that its TPS lies in the station's kecamatan.
                return topic == Topics.Telemetry(identity.Name)
                       || topic == Topics.PpkStatement(identity.Name)
                       || Topics.TryParseRelayedTelemetry(topic, out var station, out _) && station == identity.Name
                       || TpsTopicOf(topic) is { } relayed && relayed.Sender == identity.Name
                          && relayed.Tps.Value.StartsWith(identity.Assignment, StringComparison.Ordinal);
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
        KpuRole.Service => topicFilter is Topics.AllSubmissions or Topics.AllImages or Topics.AllTelemetry or Topics.AllRelayedTelemetry or Topics.AllPpkStatements,
        _ => false,
    };

    /// <summary>The TPS, contest and sender a form or image topic names; null for any other topic.</summary>
    private static TpsTopic? TpsTopicOf(string topic) =>
        Topics.TryParseSubmission(topic, out var parsed) || Topics.TryParseImage(topic, out parsed) ? parsed : null;

    private static bool IsConfigTopic(string topic) =>
        topic.StartsWith(Topics.Prefix + "/device/", StringComparison.Ordinal) && topic.EndsWith("/config", StringComparison.Ordinal)
        && topic.Count(c => c == '/') == 4 && !topic.Contains('+') && !topic.Contains('#');
}
