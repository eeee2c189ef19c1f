using System.Buffers;
using KpuEdge.Core.Elections;
using System.Threading.Channels;
using KpuEdge.Cloud.Broker;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace KpuEdge.Cloud.Ingest;

/// <summary>
/// Takes submissions off the broker and turns them into ledger entries, recap updates and receipts:
/// <code>
///  MQTT (QoS 1, manual ack) ─► check workers (decode, verify, validate; partitioned by topic so a TPS keeps its order)
///     ─► sequencer (duplicates, stale sequence numbers; group commit to the ledger)
///     ─► completion (TPS grain, receipt to the device, MQTT ack)
/// </code>
/// Nothing is acknowledged before the ledger transaction holding it has committed.
/// </summary>
public sealed class IngestService(
    IOptions<CloudOptions> options,
    BrokerEndpoint broker,
    SubmissionChecker checker,
    IResultsLedger ledger,
    RecapService recap,
    IngestStats stats,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<IngestService> logger) : BackgroundService
{
    private const int CheckWorkers = 2;
    private const int CompletionWorkers = 2;

    private sealed record Inbound(string Topic, byte[] Payload, string? ResponseTopic, byte[]? Correlation, DateTimeOffset ReceivedAt, Func<Task> Ack);

    private sealed record Checked(Inbound Message, CheckOutcome Outcome);

    private sealed record Completion(Inbound Message, CheckOutcome Outcome, Refused? Refusal, Receipt Receipt, long? AcceptedPosition);

    private readonly Channel<Inbound>[] _inbound = Enumerable.Range(0, CheckWorkers)
        .Select(_ => Channel.CreateBounded<Inbound>(new BoundedChannelOptions(4096) { SingleReader = true })).ToArray();
    private readonly Channel<Checked> _checked = Channel.CreateBounded<Checked>(new BoundedChannelOptions(8192) { SingleReader = true });
    private readonly Channel<IReadOnlyList<Completion>> _completions = Channel.CreateBounded<IReadOnlyList<Completion>>(64);
    private IMqttClient? _client;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the ledger is replayed and the ingest is subscribed.</summary>
    public Task Ready => _ready.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await WaitForStartAsync(stoppingToken);
            await recap.RebuildFromLedgerAsync(stoppingToken);
            var heads = new Dictionary<string, DeviceHead>(ledger.DeviceHeads(), StringComparer.Ordinal);

            var workers = new List<Task>();
            workers.AddRange(_inbound.Select(channel => Task.Run(() => CheckLoopAsync(channel.Reader, stoppingToken), stoppingToken)));
            workers.Add(Task.Run(() => SequenceLoopAsync(heads, stoppingToken), stoppingToken));
            workers.AddRange(Enumerable.Range(0, CompletionWorkers).Select(_ => Task.Run(() => CompleteLoopAsync(stoppingToken), stoppingToken)));

            await ConnectAsync(stoppingToken);
            _ready.TrySetResult();
            await Task.WhenAll(workers);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            _ready.TrySetCanceled(stoppingToken);
        }
        catch (Exception e)
        {
            _ready.TrySetException(e);
            logger.LogCritical(e, "Ingest stopped");
            throw;
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_client is { IsConnected: true })
        {
            try { await _client.DisconnectAsync(cancellationToken: cancellationToken); }
            catch (Exception e) { logger.LogDebug(e, "Disconnect at shutdown failed"); }
        }
        await base.StopAsync(cancellationToken);
        _client?.Dispose();
    }

    private async Task WaitForStartAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var r1 = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        using var r2 = stoppingToken.Register(() => started.TrySetCanceled(stoppingToken));
        await started.Task;
    }

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += async e =>
        {
            // Acknowledged only once recorded (or refused): the broker keeps anything we have not finished.
            e.AutoAcknowledge = false;
            var m = e.ApplicationMessage;
            stats.OnReceived();
            var inbound = new Inbound(m.Topic, m.Payload.ToArray(), m.ResponseTopic, m.CorrelationData, time.GetUtcNow(),
                () => e.AcknowledgeAsync(CancellationToken.None));
            int partition = (int)((uint)StringComparer.Ordinal.GetHashCode(m.Topic) % CheckWorkers);
            await _inbound[partition].Writer.WriteAsync(inbound, cancellationToken);
        };
        var clientOptions = new MqttClientOptionsBuilder()
            .WithTcpServer(broker.Host, broker.Port)
            .WithClientId($"kpu-cloud-ingest-{Environment.ProcessId}")
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart()
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(30))
            .Build();
        await _client.ConnectAsync(clientOptions, cancellationToken);
        var subscribe = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(Topics.AllSubmissions).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .Build();
        await _client.SubscribeAsync(subscribe, cancellationToken);
        logger.LogInformation("Ingest subscribed to {Topic} on {Host}:{Port}", Topics.AllSubmissions, broker.Host, broker.Port);
    }

    private async Task CheckLoopAsync(ChannelReader<Inbound> reader, CancellationToken cancellationToken)
    {
        await foreach (var message in reader.ReadAllAsync(cancellationToken))
        {
            CheckOutcome outcome;
            try
            {
                outcome = checker.Check(message.Topic, message.Payload);
            }
            catch (Exception e)
            {
                // A bug in a check must not take the ingest down; the message is refused, not lost silently.
                logger.LogError(e, "Checking a message on {Topic} failed", message.Topic);
                outcome = new Refused(Sha256Hash.Of(message.Payload), RejectReasons.Malformed, "The message could not be checked.");
            }
            await _checked.Writer.WriteAsync(new Checked(message, outcome), cancellationToken);
        }
    }

    private async Task SequenceLoopAsync(Dictionary<string, DeviceHead> heads, CancellationToken cancellationToken)
    {
        var reader = _checked.Reader;
        int maxBatch = options.Value.LedgerBatchSize;
        var batch = new List<Checked>(maxBatch);
        while (await reader.WaitToReadAsync(cancellationToken))
        {
            batch.Clear();
            while (batch.Count < maxBatch && reader.TryRead(out var item)) batch.Add(item);
            var completions = Sequence(batch, heads);
            if (completions is not null) await _completions.Writer.WriteAsync(completions, cancellationToken);
        }
    }

    /// <summary>Decides duplicates and reused sequence numbers, then commits the batch. Returns null if the commit failed.</summary>
    private IReadOnlyList<Completion>? Sequence(List<Checked> batch, Dictionary<string, DeviceHead> heads)
    {
        var accepted = new List<(SignedSubmission, DateTimeOffset)>();
        var rejections = new List<Rejection>();
        var decisions = new (int AcceptedIndex, long? DuplicateOf, Refused? Refusal)[batch.Count];
        var pendingByHash = new Dictionary<Sha256Hash, int>();
        var pendingBySequence = new HashSet<(string, ulong)>();
        for (int i = 0; i < batch.Count; i++)
        {
            var (message, outcome) = batch[i];
            if (outcome is Refused refused)
            {
                decisions[i] = (-1, null, refused);
                rejections.Add(ToRejection(message, refused));
                continue;
            }
            var verified = (Verified)outcome;
            var s = verified.Signed.Submission;
            if (pendingByHash.TryGetValue(verified.Hash, out int pending))
            {
                decisions[i] = (pending, null, null); // same bytes twice in one batch: one entry, two receipts
                continue;
            }
            // Forms of one device may arrive in any order (five contests in flight, resends over bad links), so a
            // lower sequence number is fine; reusing one for different content is not (a rewind or a fork).
            string? clash = null;
            if (pendingBySequence.Contains((s.DeviceId, s.Sequence)))
            {
                clash = "in this batch";
            }
            else if (heads.TryGetValue(s.DeviceId, out var head) && s.Sequence <= head.Sequence
                     && ledger.FindBySequence(s.DeviceId, s.Sequence) is { } earlier)
            {
                if (earlier.Hash == verified.Hash)
                {
                    decisions[i] = (-1, earlier.Position, null);
                    continue;
                }
                clash = $"at ledger position {earlier.Position}";
            }
            if (clash is not null)
            {
                var stale = new Refused(verified.Hash, RejectReasons.StaleSequence,
                    $"Sequence {s.Sequence} of '{s.DeviceId}' was already used by another accepted form ({clash}).", s);
                decisions[i] = (-1, null, stale);
                rejections.Add(ToRejection(message, stale));
                continue;
            }
            if (!heads.TryGetValue(s.DeviceId, out var current) || s.Sequence > current.Sequence)
                heads[s.DeviceId] = new DeviceHead(s.Sequence, verified.Hash);
            pendingByHash[verified.Hash] = accepted.Count;
            pendingBySequence.Add((s.DeviceId, s.Sequence));
            decisions[i] = (accepted.Count, null, null);
            accepted.Add((verified.Signed, message.ReceivedAt));
        }

        IReadOnlyList<long> positions;
        try
        {
            positions = ledger.Append(accepted, rejections);
        }
        catch (Exception e)
        {
            // Not durable, so not acknowledged: devices resend and the broker redelivers. Rewind the chain heads.
            logger.LogError(e, "Ledger commit of {Count} submissions failed; nothing in the batch is acknowledged", batch.Count);
            heads.Clear();
            foreach (var (key, value) in ledger.DeviceHeads()) heads[key] = value;
            return null;
        }

        var completions = new Completion[batch.Count];
        var now = time.GetUtcNow();
        var firstUse = new HashSet<int>();
        for (int i = 0; i < batch.Count; i++)
        {
            var (message, outcome) = batch[i];
            var (acceptedIndex, duplicateOf, refusal) = decisions[i];
            var submission = (outcome as Verified)?.Signed.Submission ?? refusal?.Submission;
            var receipt = new Receipt
            {
                Status = refusal is not null ? ReceiptStatus.Rejected
                    : duplicateOf is not null || !firstUse.Add(acceptedIndex) ? ReceiptStatus.Duplicate
                    : ReceiptStatus.Accepted,
                SubmissionHash = outcome.Hash.ToString(),
                LedgerPosition = refusal is not null ? null : duplicateOf ?? positions[acceptedIndex],
                Reason = refusal?.Reason,
                Detail = refusal?.Detail,
                Violations = refusal?.Violations,
                Tps = submission?.Tps.Value,
                Contest = submission?.Contest.Slug(),
                Sequence = submission?.Sequence,
                Ts = now,
            };
            completions[i] = new Completion(message, outcome, refusal, receipt, receipt.Status == ReceiptStatus.Accepted ? receipt.LedgerPosition : null);
        }
        return completions;
    }

    private async Task CompleteLoopAsync(CancellationToken cancellationToken)
    {
        await foreach (var batch in _completions.Reader.ReadAllAsync(cancellationToken))
            await Task.WhenAll(batch.Select(CompleteAsync));
    }

    private async Task CompleteAsync(Completion c)
    {
        try
        {
            switch (c.Receipt.Status)
            {
                case ReceiptStatus.Accepted:
                    var verified = (Verified)c.Outcome;
                    var s = verified.Signed.Submission;
                    await recap.AcceptAsync(s.Tps, s.Contest, c.AcceptedPosition!.Value, s.Sequence, verified.Totals);
                    stats.OnAccepted();
                    break;
                case ReceiptStatus.Duplicate:
                    stats.OnDuplicate();
                    logger.LogInformation("Duplicate of ledger entry {Position} on {Topic}: counted once", c.Receipt.LedgerPosition, c.Message.Topic);
                    break;
                default:
                    stats.OnRejected(c.Receipt.Reason!);
                    if (RejectReasons.IsSecurityRelevant(c.Receipt.Reason!))
                        logger.LogWarning("Security: rejected {Reason} on {Topic} from device {Device}: {Detail}",
                            c.Receipt.Reason, c.Message.Topic, c.Refusal?.Submission?.DeviceId ?? "?", c.Receipt.Detail);
                    else
                        logger.LogWarning("Rejected {Reason} on {Topic}: {Detail}", c.Receipt.Reason, c.Message.Topic, c.Receipt.Detail);
                    break;
            }
            await SendReceiptAsync(c.Message, c.Receipt);
            await c.Message.Ack();
        }
        catch (Exception e)
        {
            // Recorded in the ledger already; the recap rebuilds from it and the device will ask again.
            logger.LogError(e, "Completing {Hash} failed after it was recorded", c.Receipt.SubmissionHash);
        }
    }

    private async Task SendReceiptAsync(Inbound message, Receipt receipt)
    {
        if (!Topics.IsReceiptTopic(message.ResponseTopic))
        {
            if (message.ResponseTopic is not null)
                logger.LogWarning("Not sending a receipt to '{Topic}': not a device receipt topic", message.ResponseTopic);
            return;
        }
        var reply = new MqttApplicationMessageBuilder()
            .WithTopic(message.ResponseTopic)
            .WithPayload(receipt.ToUtf8())
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithContentType("application/json");
        if (message.Correlation is { Length: > 0 }) reply.WithCorrelationData(message.Correlation);
        await _client!.PublishAsync(reply.Build(), CancellationToken.None);
    }

    private static Rejection ToRejection(Inbound message, Refused refused) =>
        new(message.ReceivedAt, message.Topic, refused.Submission?.DeviceId, refused.Reason, refused.Detail, refused.Hash, message.Payload.Length);
}
