using System.Buffers;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using System.Threading.Channels;
using KpuEdge.Cloud.Broker;
using KpuEdge.Cloud.Images;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Recap;
using KpuEdge.Cloud.Transparency;
using KpuEdge.Core.Security;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using KpuEdge.Cloud.Security;
using KpuEdge.Crypto.Pki;
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
///     ─► sequencer (duplicates, device chains: forks, rewinds; group commit to the ledger)
///     ─► completion (TPS grain, receipt to the device, MQTT ack)
/// </code>
/// Nothing is acknowledged before the ledger transaction holding it has committed.
/// </summary>
public sealed class IngestService(
    IOptions<CloudOptions> options,
    BrokerEndpoint broker,
    SubmissionChecker checker,
    IResultsLedger ledger,
    TransparencyLog log,
    CloudPki pki,
    RevocationService revocations,
    RecapService recap,
    IngestStats stats,
    ImageIngest images,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<IngestService> logger) : BackgroundService
{
    private const int CheckWorkers = 2;
    private const int CompletionWorkers = 2;

    /// <param name="Sender">Who published it, from the topic the broker let it publish to (null: not a form topic, nobody to answer).</param>
    private sealed record Inbound(string Topic, string? Sender, byte[] Payload, byte[]? Correlation, DateTimeOffset ReceivedAt, Func<Task> Ack);

    /// <summary>Correlation data longer than this is not echoed (a device's is the 32-byte submission hash).</summary>
    private const int MaxCorrelationBytes = 64;

    private sealed record Checked(Inbound Message, CheckOutcome Outcome);

    private sealed record Completion(Inbound Message, CheckOutcome Outcome, Refused? Refusal, Receipt Receipt, long? AcceptedPosition, LogCheckpoint Checkpoint);

    private readonly Channel<Inbound>[] _inbound = Enumerable.Range(0, CheckWorkers)
        .Select(_ => Channel.CreateBounded<Inbound>(new BoundedChannelOptions(4096) { SingleReader = true })).ToArray();
    private readonly Channel<Checked> _checked = Channel.CreateBounded<Checked>(new BoundedChannelOptions(8192) { SingleReader = true });
    private readonly Channel<IReadOnlyList<Completion>> _completions = Channel.CreateBounded<IReadOnlyList<Completion>>(64);
    private IMqttClient? _client;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private static readonly TimeSpan ReconnectBackoffBase = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan ReconnectBackoffMax = TimeSpan.FromSeconds(5);
    private MqttClientOptions? _clientOptions;
    // A lost connection, signalled by the client; one pending signal is enough for the reconnect loop.
    private readonly Channel<bool> _connectionLost = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private Task _reconnecting = Task.CompletedTask;
    private volatile bool _disconnecting;
    /// <summary>Refusals written per sender and reason: <see cref="RefusalsWrittenPerMinute"/> a minute, the rest counted.</summary>
    private readonly KpuEdge.Broker.RefusalThrottle _refusals = new(TimeSpan.FromMinutes(1), time, RefusalsWrittenPerMinute);
    public const int RefusalsWrittenPerMinute = 20;
    // Counts connections: an ack belongs to the connection its message came on (packet ids start over on a new one).
    private int _connection;

    /// <summary>Completes once the ledger is replayed and the ingest is subscribed.</summary>
    public Task Ready => _ready.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await WaitForStartAsync(stoppingToken);
            // The log first: an altered ledger must stop the start before anything is served from it.
            log.Load();
            revocations.LoadSaved();
            await recap.RebuildFromLedgerAsync(stoppingToken);
            var heads = new Dictionary<string, ChainLink>(ledger.DeviceHeads(), StringComparer.Ordinal);

            var workers = new List<Task>();
            workers.AddRange(_inbound.Select(channel => Task.Run(() => CheckLoopAsync(channel.Reader, stoppingToken), stoppingToken)));
            workers.Add(Task.Run(() => SequenceLoopAsync(heads, stoppingToken), stoppingToken));
            workers.AddRange(Enumerable.Range(0, CompletionWorkers).Select(_ => Task.Run(() => CompleteLoopAsync(stoppingToken), stoppingToken)));
            workers.Add(Task.Run(() => images.RunAsync(AnswerImageAsync, stoppingToken), stoppingToken));

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
        _disconnecting = true;
        if (_client is { IsConnected: true })
        {
            try { await _client.DisconnectAsync(cancellationToken: cancellationToken); }
            catch (Exception e) { logger.LogDebug(e, "Disconnect at shutdown failed"); }
        }
        await base.StopAsync(cancellationToken);
        await _reconnecting;
        _client?.Dispose();
    }

    private async Task WaitForStartAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var r1 = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        using var r2 = stoppingToken.Register(() => started.TrySetCanceled(stoppingToken));
        await started.Task;
    }

    /// <summary>Connects and subscribes once (a broker that is not there fails the start), then keeps the connection up.</summary>
    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += async e =>
        {
            // Acknowledged only once recorded (or refused): the broker keeps anything we have not finished.
            e.AutoAcknowledge = false;
            var m = e.ApplicationMessage;
            int connection = Volatile.Read(ref _connection);
            // Answers go to the sender the topic names (the broker's ACL ties it to the client's certificate), never to
            // a response topic the message asks for: nobody can have the cloud answer another device.
            var correlation = m.CorrelationData is { Length: > 0 and <= MaxCorrelationBytes } c ? c : null;
            if (Topics.TryParseImage(m.Topic, out _))
            {
                // Photos queue apart from the forms: the numbers never wait behind them.
                await images.EnqueueAsync(new InboundChunk(m.Topic, m.Payload.ToArray(), correlation, () => AcknowledgeAsync(e, connection)), cancellationToken);
                return;
            }
            stats.OnReceived();
            string? sender = Topics.TryParseSubmission(m.Topic, out var address) ? address.Sender : null;
            var inbound = new Inbound(m.Topic, sender, m.Payload.ToArray(), correlation, time.GetUtcNow(), () => AcknowledgeAsync(e, connection));
            int partition = (int)((uint)StringComparer.Ordinal.GetHashCode(m.Topic) % CheckWorkers);
            await _inbound[partition].Writer.WriteAsync(inbound, cancellationToken);
        };
        _client.DisconnectedAsync += e =>
        {
            if (e.ClientWasConnected && !_disconnecting)
            {
                logger.LogWarning(e.Exception, "Ingest lost the broker at {Host}:{Port} ({Reason}); reconnecting", broker.Host, broker.Port, e.Reason);
                _connectionLost.Writer.TryWrite(true);
            }
            return Task.CompletedTask;
        };
        _clientOptions = new MqttClientOptionsBuilder()
            .WithTcpServer(broker.Host, broker.Port)
            .WithTlsOptions(tls => tls
                .UseTls()
                .WithTargetHost(options.Value.BrokerTlsName)
                .WithClientCertificates(new X509Certificate2Collection(pki.IngestCertificate))
                .WithCertificateValidationHandler(e => KpuTls.IsTrustedServer(pki.Trust, e.Certificate, time.GetUtcNow(), out _)))
            .WithClientId(KpuTls.NameOf(pki.IngestCertificate))
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart()
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(30))
            .Build();
        await ConnectAndSubscribeAsync(cancellationToken);
        _reconnecting = Task.Run(() => KeepConnectedAsync(cancellationToken), CancellationToken.None);
    }

    private async Task ConnectAndSubscribeAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _connection);
        var connected = await _client!.ConnectAsync(_clientOptions!, cancellationToken);
        if (connected.ResultCode != MqttClientConnectResultCode.Success)
            throw new InvalidOperationException($"The broker refused the ingest's connection: {connected.ResultCode} {connected.ReasonString}");
        var subscribe = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(Topics.AllSubmissions).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .WithTopicFilter(f => f.WithTopic(Topics.AllImages).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .Build();
        var subscribed = await _client.SubscribeAsync(subscribe, cancellationToken);
        if (subscribed.Items.FirstOrDefault(i => i.ResultCode > MqttClientSubscribeResultCode.GrantedQoS2) is { } refused)
            throw new InvalidOperationException($"The broker refused the ingest's subscription to {refused.TopicFilter.Topic}: {refused.ResultCode}");
        logger.LogInformation("Ingest subscribed to {Topics} on {Host}:{Port}", $"{Topics.AllSubmissions}, {Topics.AllImages}", broker.Host, broker.Port);
    }

    /// <summary>
    /// After a lost connection (the broker restarted, the network dropped), connects and subscribes again with
    /// exponential backoff until it works or the host stops. What the old connection had not acknowledged is gone
    /// from the broker (clean start): devices resend it, and what was already recorded gets a duplicate receipt.
    /// </summary>
    private async Task KeepConnectedAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var _ in _connectionLost.Reader.ReadAllAsync(stoppingToken))
            {
                for (int attempt = 0; !_client!.IsConnected; attempt++)
                {
                    var backoff = TimeSpan.FromTicks(Math.Min(ReconnectBackoffMax.Ticks, ReconnectBackoffBase.Ticks << Math.Min(attempt, 16)));
                    await Task.Delay(backoff, time, stoppingToken);
                    if (_disconnecting) return;
                    try
                    {
                        await ConnectAndSubscribeAsync(stoppingToken);
                        logger.LogInformation("Ingest reconnected to {Host}:{Port} after {Attempts} attempt(s)", broker.Host, broker.Port, attempt + 1);
                    }
                    catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                    {
                        // A half-made connection (connected, subscription failed) is dropped so the next attempt starts clean.
                        if (_client.IsConnected)
                        {
                            try { await _client.DisconnectAsync(cancellationToken: stoppingToken); }
                            catch (Exception d) when (!stoppingToken.IsCancellationRequested) { logger.LogDebug(d, "Dropping a half-made connection failed"); }
                        }
                        logger.LogWarning("Ingest reconnect attempt {Attempt} to {Host}:{Port} failed: {Error}", attempt + 1, broker.Host, broker.Port, e.Message);
                    }
                }
            }
        }
        catch (Exception) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: whatever the attempt under way threw, the connection is being closed anyway.
        }
        catch (Exception e)
        {
            logger.LogCritical(e, "Ingest stopped reconnecting to {Host}:{Port}", broker.Host, broker.Port);
        }
    }

    /// <summary>Acks on the connection the message came on only: a new connection has its own packet ids, and the old message is its device's to resend.</summary>
    private Task AcknowledgeAsync(MqttApplicationMessageReceivedEventArgs e, int connection) =>
        connection == Volatile.Read(ref _connection) && _client is { IsConnected: true }
            ? e.AcknowledgeAsync(CancellationToken.None)
            : Task.CompletedTask;

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

    private async Task SequenceLoopAsync(Dictionary<string, ChainLink> heads, CancellationToken cancellationToken)
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

    private sealed record Decision(int AcceptedIndex, LedgerEntry? DuplicateOf, Refused? Refusal);

    /// <summary>
    /// Decides duplicates and the device chains (gaps, forks, rewinds), then commits the batch — accepted forms, their
    /// log entries, refusals and security events in one transaction. Returns null if the commit failed.
    /// </summary>
    private IReadOnlyList<Completion>? Sequence(List<Checked> batch, Dictionary<string, ChainLink> heads)
    {
        var accepted = new List<(SignedSubmission, DateTimeOffset)>();
        var rejections = new List<Rejection>();
        var events = new List<SecurityEvent>();
        var decisions = new Decision[batch.Count];
        var pendingByHash = new Dictionary<Sha256Hash, int>();
        var pendingLinks = new Dictionary<(string, ulong), ChainLink>();
        var pendingForms = new Dictionary<(string, TpsCode, ContestId), List<ulong>>();
        for (int i = 0; i < batch.Count; i++)
        {
            var (message, outcome) = batch[i];
            // A refusal is answered always, but written (a rejection row, a security event) only a few times a minute
            // per sender and reason: a flooding device costs a handful of rows, and the next row says how many more.
            void Refuse(Refused refusal, SecurityEvent? securityEvent)
            {
                decisions[i] = new Decision(-1, null, refusal);
                if (!_refusals.ShouldReport(refusal.Reason, message.Sender ?? message.Topic, out long more)) return;
                rejections.Add(ToRejection(message, refusal, more));
                if (securityEvent is not null)
                    events.Add(more == 0 ? securityEvent : securityEvent with
                    {
                        Evidence = new Dictionary<string, string>(securityEvent.Evidence ?? new Dictionary<string, string>(), StringComparer.Ordinal)
                        {
                            ["repeats_since_last_report"] = more.ToString(CultureInfo.InvariantCulture),
                        },
                    });
            }
            if (outcome is Refused refused)
            {
                Refuse(refused, SecurityEventFor(message, refused));
                continue;
            }
            var verified = (Verified)outcome;
            var s = verified.Signed.Submission;
            if (pendingByHash.TryGetValue(verified.Hash, out int pending))
            {
                decisions[i] = new Decision(pending, null, null); // same bytes twice in one batch: one entry, two receipts
                continue;
            }
            var link = new ChainLink(s.Sequence, verified.Hash, s.PreviousHash, s.DeviceTime);
            heads.TryGetValue(s.DeviceId, out var head);
            ChainLink? predecessor = null, sameSequence = null, successor = null;
            if (head is not null && head.Sequence + 1 == s.Sequence)
            {
                predecessor = head; // in order: the common case needs no lookup
            }
            else if (head is not null)
            {
                foreach (var known in LinksAround(s.DeviceId, s.Sequence, pendingLinks))
                {
                    if (known.Sequence + 1 == s.Sequence) predecessor = known;
                    else if (known.Sequence == s.Sequence) sameSequence = known;
                    else if (known.Sequence == s.Sequence + 1) successor = known;
                }
            }
            if (sameSequence is not null && sameSequence.Hash == verified.Hash && ledger.FindByHash(verified.Hash) is { } earlier)
            {
                decisions[i] = new Decision(-1, earlier, null);
                continue;
            }
            var verdict = DeviceChain.Judge(link, head, predecessor, sameSequence, successor, options.Value.MaxSequenceJump);
            if (verdict.Refused)
            {
                var (reason, kind) = verdict.Kind switch
                {
                    ChainVerdictKind.Fork => (RejectReasons.ChainFork, SecurityEventKinds.ChainFork),
                    ChainVerdictKind.Rewind => (RejectReasons.ChainRewind, SecurityEventKinds.ChainRewind),
                    _ => (RejectReasons.ChainJump, SecurityEventKinds.ChainJump),
                };
                var refusal = new Refused(verified.Hash, reason, $"Device '{s.DeviceId}': {verdict.Detail}.", s) { Genuine = true };
                Refuse(refusal, ChainEvent(message, s, verdict, kind, SecuritySeverity.Critical, verified.Hash, sameSequence?.Hash));
                continue;
            }
            // A gap is not news yet: the missing forms are usually in flight. ChainGapMonitor reports those that last.
            // A second form of the device for this TPS and contest must say why it replaces the first; an older one
            // arriving after its correction is history and needs no reason.
            // A device with nothing accepted yet (no head) has no earlier version: no lookup on that path.
            if (head is not null)
            {
                var versions = ledger.SequencesFor(s.DeviceId, s.Tps, s.Contest)
                    .Concat(pendingForms.TryGetValue((s.DeviceId, s.Tps, s.Contest), out var inBatch) ? inBatch : []).ToList();
                var replaced = versions.Where(n => n < s.Sequence).ToList();
                Refused? refusal = null;
                if (s.CorrectionReason is null && replaced.Count > 0)
                    refusal = new Refused(verified.Hash, RejectReasons.CorrectionWithoutReason,
                        $"Device '{s.DeviceId}' already sent {s.Contest.Slug()} of TPS {s.Tps} (sequence {replaced.Max()}); a newer version must carry a correction reason.", s) { Genuine = true };
                // Corrections are a handful at most; a device signing thousands is flooding the log and the TPS's page.
                else if (versions.Count >= options.Value.MaxVersionsPerForm)
                    refusal = new Refused(verified.Hash, RejectReasons.TooManyVersions,
                        $"Device '{s.DeviceId}' already has {versions.Count} versions of {s.Contest.Slug()} of TPS {s.Tps}; at most {options.Value.MaxVersionsPerForm} are kept.", s) { Genuine = true };
                if (refusal is not null)
                {
                    Refuse(refusal, SecurityEventFor(message, refusal));
                    continue;
                }
            }
            if (head is null || s.Sequence > head.Sequence) heads[s.DeviceId] = link;
            pendingByHash[verified.Hash] = accepted.Count;
            pendingLinks[(s.DeviceId, s.Sequence)] = link;
            if (!pendingForms.TryGetValue((s.DeviceId, s.Tps, s.Contest), out var forms)) pendingForms[(s.DeviceId, s.Tps, s.Contest)] = forms = [];
            forms.Add(s.Sequence);
            decisions[i] = new Decision(accepted.Count, null, null);
            accepted.Add((verified.Signed, message.ReceivedAt));
        }

        LedgerCommit commit;
        LogCheckpoint checkpoint;
        try
        {
            (commit, checkpoint) = log.Commit(new LedgerBatch { Accepted = accepted, Rejections = rejections, Events = events });
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
            var status = refusal is not null ? ReceiptStatus.Rejected
                : duplicateOf is not null || !firstUse.Add(acceptedIndex) ? ReceiptStatus.Duplicate
                : ReceiptStatus.Accepted;
            long? position = refusal is not null ? null : duplicateOf?.Position ?? commit.Positions[acceptedIndex];
            long? logIndex = refusal is not null ? null : duplicateOf?.LogIndex ?? commit.SubmissionLogIndexes[acceptedIndex];
            var receipt = new Receipt
            {
                Status = status,
                SubmissionHash = outcome.Hash.ToString(),
                LedgerPosition = position,
                LogIndex = logIndex,
                Reason = refusal?.Reason,
                // Only a verdict on the form's own bytes is signed: a refusal for who sent it or where must never
                // become a final word a device could be shown about its form.
                Rejection = refusal is not null && RejectReasons.IsFinal(refusal.Reason) ? log.SignRejection(outcome.Hash, refusal.Reason, now) : null,
                Detail = refusal?.Detail,
                Violations = refusal?.Violations,
                Tps = submission?.Tps.Value,
                Contest = submission?.Contest.Slug(),
                Sequence = submission?.Sequence,
                Ts = now,
            };
            completions[i] = new Completion(message, outcome, refusal, receipt, status == ReceiptStatus.Accepted ? position : null, checkpoint);
        }
        return completions;
    }

    /// <summary>A device's links at n−1, n and n+1: those committed in the ledger and those pending in this batch.</summary>
    private IEnumerable<ChainLink> LinksAround(string deviceId, ulong sequence, Dictionary<(string, ulong), ChainLink> pendingLinks)
    {
        ulong from = sequence > 0 ? sequence - 1 : 0, to = sequence + 1;
        var found = new Dictionary<ulong, ChainLink>();
        foreach (var link in ledger.ChainLinks(deviceId, from, to)) found[link.Sequence] = link;
        for (ulong n = from; n <= to; n++)
            if (pendingLinks.TryGetValue((deviceId, n), out var link)) found[n] = link;
        return found.Values;
    }

    private SecurityEvent ChainEvent(Inbound message, Submission s, ChainVerdict verdict, string kind, SecuritySeverity severity, Sha256Hash hash, Sha256Hash? other)
    {
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["sequence"] = s.Sequence.ToString(CultureInfo.InvariantCulture),
            ["submission_hash"] = hash.ToString(),
            ["previous_hash"] = s.PreviousHash.ToString(),
            ["device_time"] = s.DeviceTime.ToString("O", CultureInfo.InvariantCulture),
            ["topic"] = message.Topic,
            ["sender"] = message.Sender ?? "",
        };
        if (other is { } o) evidence["conflicting_hash"] = o.ToString();
        return new SecurityEvent
        {
            Ts = message.ReceivedAt, Kind = kind, Severity = severity, Source = SecurityEventSources.Ingest,
            DeviceId = s.DeviceId, Tps = s.Tps.Value, Detail = verdict.Detail, Evidence = evidence,
        };
    }

    /// <summary>
    /// Refusals that smell of attack rather than of a mistake become security events, attributed to what was verified:
    /// the sender the broker authenticated (<c>device_id</c>, and the TPS of the topic it was allowed to use), with the
    /// device the form names as evidence — vouched for only when its signature verified (<c>form_signature</c>).
    /// </summary>
    private static SecurityEvent? SecurityEventFor(Inbound message, Refused refused)
    {
        if (!RejectReasons.IsSecurityRelevant(refused.Reason)) return null;
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["reason"] = refused.Reason,
            ["payload_hash"] = refused.Hash.ToString(),
            ["topic"] = message.Topic,
            ["size"] = message.Payload.Length.ToString(CultureInfo.InvariantCulture),
        };
        if (refused.Submission is { } form)
        {
            evidence["form_device"] = form.DeviceId;
            evidence["form_tps"] = form.Tps.Value;
            evidence["form_sequence"] = form.Sequence.ToString(CultureInfo.InvariantCulture);
            evidence["form_signature"] = refused.Genuine ? "verified" : "unverified";
        }
        var (kind, severity) = refused.Reason switch
        {
            RejectReasons.RevokedDevice => (SecurityEventKinds.RevokedDeviceSubmission, SecuritySeverity.Critical),
            RejectReasons.ReplayedByOtherDevice => (SecurityEventKinds.FormReplayed, SecuritySeverity.Critical),
            RejectReasons.ChainJump => (SecurityEventKinds.ChainJump, SecuritySeverity.Critical),
            _ => (SecurityEventKinds.SubmissionRefused, SecuritySeverity.Warning),
        };
        return new SecurityEvent
        {
            Ts = message.ReceivedAt,
            Kind = kind,
            Severity = severity,
            Source = SecurityEventSources.Ingest,
            DeviceId = message.Sender,
            Tps = Topics.TryParseSubmission(message.Topic, out var address) ? address.Tps.Value : null,
            Detail = refused.Detail,
            Evidence = evidence,
        };
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
            await SendReceiptAsync(c.Message, WithInclusionProof(c));
            await c.Message.Ack();
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException || _client is { IsConnected: false })
        {
            // The broker went away mid-answer (a restart): recorded already; the device resends and gets a duplicate receipt.
            logger.LogInformation("No receipt for {Hash}: the broker connection dropped after it was recorded", c.Receipt.SubmissionHash);
        }
        catch (Exception e)
        {
            // Recorded in the ledger already; the recap rebuilds from it and the device will ask again.
            logger.LogError(e, "Completing {Hash} failed after it was recorded", c.Receipt.SubmissionHash);
        }
    }

    /// <summary>Accepted and duplicate receipts carry the entry's inclusion proof in a signed checkpoint, for the device to verify.</summary>
    private Receipt WithInclusionProof(Completion c)
    {
        if (c.Receipt.LogIndex is not { } index) return c.Receipt;
        var checkpoint = index < c.Checkpoint.Size ? c.Checkpoint : log.Latest;
        var answer = log.ProveInclusion(index, checkpoint);
        return c.Receipt with
        {
            Checkpoint = answer.Checkpoint.Note,
            InclusionProof = answer.Proof.Select(Convert.ToBase64String).ToArray(),
        };
    }

    /// <summary>Answers an image chunk on its sender's image topic.</summary>
    /// <remarks>
    /// At QoS 0: where a page stands is news only while the device is there to act on it. A device away (a VSAT reset)
    /// asks again when it is back, and its session does not fill with stale progress it would have to read and check
    /// on reconnecting — 1,000 devices resetting every few minutes made that backlog the run's main cost.
    /// </remarks>
    private Task AnswerImageAsync(string topic, byte[] ack, byte[]? correlation) =>
        ReplyAsync(topic, ack, correlation, "image acknowledgement", MqttQualityOfServiceLevel.AtMostOnce);

    /// <summary>The receipt goes to the sender's own receipt topic, derived from the topic the broker let it publish to.</summary>
    private async Task SendReceiptAsync(Inbound message, Receipt receipt)
    {
        if (message.Sender is not { } sender)
        {
            logger.LogWarning("No receipt for {Hash}: '{Topic}' names no sender", receipt.SubmissionHash, message.Topic);
            return;
        }
        await ReplyAsync(Topics.Receipt(sender), receipt.ToUtf8(), message.Correlation, $"receipt for {receipt.SubmissionHash}");
    }

    /// <summary>Publishes an answer (JSON, QoS 1) to a device, with the correlation data of what it answers.</summary>
    private async Task ReplyAsync(string topic, byte[] json, byte[]? correlation, string what,
        MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce)
    {
        if (!_client!.IsConnected)
        {
            // The broker is away (restarting): the device sends again and gets its answer then.
            logger.LogDebug("Not connected: no {What} to '{Topic}'", what, topic);
            return;
        }
        var reply = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(json)
            .WithQualityOfServiceLevel(qos)
            .WithContentType("application/json");
        if (correlation is { Length: > 0 }) reply.WithCorrelationData(correlation);
        await _client.PublishAsync(reply.Build(), CancellationToken.None);
    }

    private static Rejection ToRejection(Inbound message, Refused refused, long more) =>
        new(message.ReceivedAt, message.Topic, refused.Submission?.DeviceId, refused.Reason,
            more == 0 ? refused.Detail : $"{refused.Detail} ({more} more of these from this sender were answered but not written since the last one.)",
            refused.Hash, message.Payload.Length);
}
