using System.Globalization;
using System.Threading.Channels;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Transparency;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Security;
using KpuEdge.Crypto.Ppk;

namespace KpuEdge.Cloud.Ppk;

/// <summary>A PPK statement taken off the broker, not yet acknowledged to it.</summary>
public sealed record InboundStatement(string Topic, byte[] Payload, byte[]? Correlation, DateTimeOffset ReceivedAt, Func<Task> Ack);

/// <summary>
/// The PPK side of the ingest: statements queue here, apart from the forms, and one worker takes them — checked
/// (<see cref="PpkStatementChecker"/>), judged and logged by the station's grain, answered on the station's receipt topic
/// with the entry's inclusion proof (or the refusal, signed when it is a verdict on the statement itself), then
/// acknowledged to the broker: never before the ledger holds what the receipt says.
/// </summary>
public sealed class PpkIngest(
    PpkStatementChecker checker, IGrainFactory grains, LedgerWriter writer, TransparencyLog log, TimeProvider time, ILogger<PpkIngest> logger)
{
    private readonly Channel<InboundStatement> _queue = Channel.CreateBounded<InboundStatement>(new BoundedChannelOptions(1024) { SingleReader = true });
    private readonly KpuEdge.Broker.RefusalThrottle _refusals = new(TimeSpan.FromMinutes(1), time, IngestService.RefusalsWrittenPerMinute);

    public ValueTask EnqueueAsync(InboundStatement statement, CancellationToken cancellationToken) => _queue.Writer.WriteAsync(statement, cancellationToken);

    /// <summary>Works the queue until cancelled; <paramref name="answer"/> publishes a receipt (topic, JSON, correlation).</summary>
    public async Task RunAsync(Func<string, byte[], byte[]?, Task> answer, CancellationToken cancellationToken)
    {
        await foreach (var message in _queue.Reader.ReadAllAsync(cancellationToken))
        {
            try
            {
                var receipt = await ProcessAsync(message);
                if (Topics.TryParsePpkStatement(message.Topic, out string station)) await answer(Topics.Receipt(station), receipt.ToUtf8(), message.Correlation);
                await message.Ack();
            }
            catch (MQTTnet.Exceptions.MqttCommunicationException)
            {
                logger.LogInformation("No receipt for a PPK statement on {Topic}: the broker connection dropped", message.Topic);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Not acknowledged: the station sends it again; what was committed stays and its resend is a duplicate.
                logger.LogError(e, "Processing a PPK statement on {Topic} failed; not acknowledged, the station will send it again", message.Topic);
            }
        }
    }

    private async Task<Receipt> ProcessAsync(InboundStatement message)
    {
        var check = checker.Check(message.Topic, message.Payload);
        if (!check.Passed) return await RefuseAsync(message, check.Hash, check.Reason!, check.Detail!, check.Signed, check.Violations, check.Genuine);
        var signed = check.Signed!;
        var answer = await grains.GetGrain<IStationGrain>(signed.Statement.StationId).Submit(signed.Wire, message.ReceivedAt);
        if (answer.Kind == DeviceAnswerKind.Refused)
            return await RefuseAsync(message, check.Hash, answer.Reason!, answer.Detail!, signed, null, genuine: true, answer.Verdict);
        if (answer.Kind == DeviceAnswerKind.Duplicate)
            logger.LogInformation("Duplicate PPK statement {Hash} of {Station}: logged once at {Index}", check.Hash, signed.Statement.StationId, answer.LogIndex);
        else
            logger.LogInformation("PPK {Kind} {Hash} of {Station} logged at {Index}{Finding}", signed.Statement.Kind, check.Hash, signed.Statement.StationId,
                answer.LogIndex, answer.Finding is null ? "" : $": {answer.Finding}");
        var checkpoint = await log.CheckpointCoveringAsync(answer.LogIndex);
        var proof = log.ProveInclusion(answer.LogIndex, checkpoint);
        return new Receipt
        {
            Status = answer.Kind == DeviceAnswerKind.Accepted ? ReceiptStatus.Accepted : ReceiptStatus.Duplicate,
            SubmissionHash = check.Hash.ToString(),
            LogIndex = answer.LogIndex,
            Sequence = signed.Statement.Sequence,
            Finding = answer.Finding,
            Ts = time.GetUtcNow(),
            Checkpoint = checkpoint.Note,
            InclusionProof = proof.Proof.Select(Convert.ToBase64String).ToArray(),
        };
    }

    private async Task<Receipt> RefuseAsync(InboundStatement message, KpuEdge.Crypto.Sha256Hash hash, string reason, string detail,
        SignedPpkStatement? signed, IReadOnlyList<string>? violations, bool genuine, ChainVerdictKind? chain = null)
    {
        string sender = Topics.TryParsePpkStatement(message.Topic, out string station) ? station : message.Topic;
        if (_refusals.ShouldReport(reason, sender, out long more))
        {
            var events = SecurityEventFor(message, hash, reason, detail, signed, genuine, chain, more) is { } e ? new[] { e } : [];
            await writer.AppendAsync(new LedgerBatch
            {
                Rejections = [new Rejection(message.ReceivedAt, message.Topic, signed?.Statement.StationId, reason,
                    more == 0 ? detail : $"{detail} ({more} more of these from this sender were answered but not written since the last one.)",
                    hash, message.Payload.Length)],
                Events = events,
            });
        }
        logger.LogWarning("Refused PPK statement {Hash} on {Topic}: {Reason}: {Detail}", hash, message.Topic, reason, detail);
        var now = time.GetUtcNow();
        return new Receipt
        {
            Status = ReceiptStatus.Rejected,
            SubmissionHash = hash.ToString(),
            Reason = reason,
            Rejection = RejectReasons.IsFinal(reason) ? log.SignRejection(hash, reason, now) : null,
            Detail = detail,
            Violations = violations,
            Sequence = signed?.Statement.Sequence,
            Ts = now,
        };
    }

    /// <summary>
    /// Every refused statement is a security event but a stale one: the station's own software checks what it signs (its
    /// encoding, reason, rules, kecamatan), so anything else refused came from a tampered or impersonated station. A
    /// statement naming a version the cloud does not count (yet) is an ordinary race, answered and recorded.
    /// </summary>
    private static SecurityEvent? SecurityEventFor(InboundStatement message, KpuEdge.Crypto.Sha256Hash hash, string reason, string detail,
        SignedPpkStatement? signed, bool genuine, ChainVerdictKind? chain, long more)
    {
        if (reason is RejectReasons.StaleForm or RejectReasons.RateLimited && chain is null) return null;
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["reason"] = reason,
            ["payload_hash"] = hash.ToString(),
            ["topic"] = message.Topic,
            ["size"] = message.Payload.Length.ToString(CultureInfo.InvariantCulture),
        };
        if (signed is not null)
        {
            evidence["statement_kind"] = signed.Statement.Kind.ToString();
            evidence["statement_station"] = signed.Statement.StationId;
            evidence["statement_kecamatan"] = signed.Statement.Kecamatan.Value;
            evidence["statement_sequence"] = signed.Statement.Sequence.ToString(CultureInfo.InvariantCulture);
            evidence["certificate"] = signed.Certificate.CommonName;
            evidence["statement_signature"] = genuine ? "verified" : "unverified";
        }
        if (more > 0) evidence["repeats_since_last_report"] = more.ToString(CultureInfo.InvariantCulture);
        var (kind, severity) = chain switch
        {
            ChainVerdictKind.Fork => (SecurityEventKinds.ChainFork, SecuritySeverity.Critical),
            ChainVerdictKind.Rewind => (SecurityEventKinds.ChainRewind, SecuritySeverity.Critical),
            ChainVerdictKind.Jump => (SecurityEventKinds.ChainJump, SecuritySeverity.Critical),
            _ => (SecurityEventKinds.PpkStatementRefused, reason is RejectReasons.StationNotAssigned or RejectReasons.RevokedDevice or RejectReasons.BadSignature
                ? SecuritySeverity.Critical : SecuritySeverity.Warning),
        };
        return new SecurityEvent
        {
            Ts = message.ReceivedAt,
            Kind = kind,
            Severity = severity,
            Source = SecurityEventSources.Ingest,
            DeviceId = Topics.TryParsePpkStatement(message.Topic, out string sender) ? sender : null,
            Subject = signed?.Statement.Kecamatan.Value,
            Detail = detail,
            Evidence = evidence,
        };
    }
}
