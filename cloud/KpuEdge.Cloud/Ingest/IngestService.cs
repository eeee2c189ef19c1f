using System.Buffers;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using System.Threading.Channels;
using KpuEdge.Broker;
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
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace KpuEdge.Cloud.Ingest;

/// <summary>
/// Takes submissions off the broker and turns them into ledger entries, recap updates and receipts:
/// <code>
///  MQTT (QoS 1, manual ack) ─► check workers (decode, verify, validate; partitioned by topic so a TPS keeps its order)
///     ─► the device's grain, wherever it lives (duplicates, chain: forks, rewinds, jumps; corrections)
///        ─► the node's group commit to the ledger ─► the node's log tree
///     ─► TPS grain, receipt with inclusion proof to the device, MQTT ack
/// </code>
/// Nothing is acknowledged before the ledger transaction holding it has committed. Every node runs one; what must
/// hold cluster-wide is decided by grains and the ledger, never by a node's memory.
/// </summary>
public sealed class IngestService(
    IOptions<CloudOptions> options,
    BrokerEndpoint broker,
    SubmissionChecker checker,
    LedgerWriter writer,
    IGrainFactory grains,
    TransparencyLog log,
    CloudPki pki,
    RevocationService revocations,
    DeviceRegistryProvider devices,
    RecapService recap,
    IngestStats stats,
    ImageIngest images,
    TelemetryIngest telemetry,
    KpuEdge.Cloud.Ppk.PpkIngest statements,
    KpuEdge.Nsoc.Rules.AnomalyMonitor anomalies,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<IngestService> logger) : BackgroundService
{
    private const int CheckWorkers = 2;
    /// <summary>Forms between check and answer at once on this node.</summary>
    private const int MaxInFlight = 4096;

    /// <param name="Sender">Who published it, from the topic the broker let it publish to (null: not a form topic, nobody to answer).</param>
    private sealed record Inbound(string Topic, string? Sender, byte[] Payload, byte[]? Correlation, DateTimeOffset ReceivedAt, Func<Task> Ack);

    /// <summary>Correlation data longer than this is not echoed (a device's is the 32-byte submission hash).</summary>
    private const int MaxCorrelationBytes = 64;

    private readonly Channel<Inbound>[] _inbound = Enumerable.Range(0, CheckWorkers)
        .Select(_ => Channel.CreateBounded<Inbound>(new BoundedChannelOptions(4096) { SingleReader = true })).ToArray();
    private readonly SemaphoreSlim _inFlight = new(MaxInFlight, MaxInFlight);
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
            await log.LoadAsync(stoppingToken);
            log.Signer = new GrainCheckpointSigner(grains);
            // The registry file before the revocation lists: a revocation is logged only for a registered device.
            await devices.ImportFileAsync(stoppingToken);
            await revocations.LoadSavedAsync();
            await recap.RebuildFromLedgerAsync(stoppingToken);

            var workers = new List<Task>();
            workers.AddRange(_inbound.Select(channel => Task.Run(() => CheckLoopAsync(channel.Reader, stoppingToken), stoppingToken)));
            workers.Add(Task.Run(() => images.RunAsync(AnswerImageAsync, stoppingToken), stoppingToken));
            workers.Add(Task.Run(() => statements.RunAsync(AnswerStatementAsync, stoppingToken), stoppingToken));

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
            if (Topics.TryParseTelemetry(m.Topic, out _) || Topics.TryParseRelayedTelemetry(m.Topic, out _, out _))
            {
                var stamp = m.UserProperties?.FirstOrDefault(p => p.Name == TelemetrySender.Property);
                var stamped = stamp is null ? null : TelemetrySender.Parse(stamp.ReadValueAsString());
                await telemetry.EnqueueAsync(new InboundTelemetry(m.Topic, stamped, m.Payload.ToArray(), time.GetUtcNow(), () => AcknowledgeAsync(e, connection)), cancellationToken);
                return;
            }
            if (Topics.TryParsePpkStatement(m.Topic, out _))
            {
                // A PPK station's statements queue apart too: few, but each may read a whole kecamatan from the ledger.
                await statements.EnqueueAsync(new KpuEdge.Cloud.Ppk.InboundStatement(m.Topic, m.Payload.ToArray(), correlation, time.GetUtcNow(),
                    () => AcknowledgeAsync(e, connection)), cancellationToken);
                return;
            }
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
            .Build()
            .WithSocketBuffers(ClientSockets.IngestBufferBytes);
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
            .WithTopicFilter(f => f.WithTopic(Topics.AllTelemetry).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .WithTopicFilter(f => f.WithTopic(Topics.AllRelayedTelemetry).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .WithTopicFilter(f => f.WithTopic(Topics.AllPpkStatements).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .Build();
        var subscribed = await _client.SubscribeAsync(subscribe, cancellationToken);
        if (subscribed.Items.FirstOrDefault(i => i.ResultCode > MqttClientSubscribeResultCode.GrantedQoS2) is { } refused)
            throw new InvalidOperationException($"The broker refused the ingest's subscription to {refused.TopicFilter.Topic}: {refused.ResultCode}");
        logger.LogInformation("Ingest subscribed to {Topics} on {Host}:{Port}", $"{Topics.AllSubmissions}, {Topics.AllImages}, {Topics.AllTelemetry}, {Topics.AllRelayedTelemetry}, {Topics.AllPpkStatements}", broker.Host, broker.Port);
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
                outcome = await checker.CheckAsync(message.Topic, message.Payload);
            }
            catch (System.Data.Common.DbException e)
            {
                // The registry (in the ledger's database) is out of reach: no verdict at all — a refusal here could be final
                // for a genuine form. Not acknowledged: the device sends it again, as when a commit fails.
                logger.LogWarning("A message on {Topic} waits for the device registry: {Error}", message.Topic, e.Message);
                continue;
            }
            catch (Exception e)
            {
                // A bug in a check must not take the ingest down; the message is refused, not lost silently.
                logger.LogError(e, "Checking a message on {Topic} failed", message.Topic);
                outcome = new Refused(Sha256Hash.Of(message.Payload), RejectReasons.Malformed, "The message could not be checked.");
            }
            // Many forms are in flight at once (each waits for its device grain and a group commit); a device's own forms
            // reach its grain in the order they came, and the grain takes them one at a time.
            await _inFlight.WaitAsync(cancellationToken);
            _ = ProcessAsync(message, outcome).ContinueWith(_ => _inFlight.Release(), TaskScheduler.Default);
        }
    }

    /// <summary>
    /// One form from check to answer: a refusal is recorded; a checked form goes to its device's grain, which sequences
    /// it and writes it; then the recap, the receipt (with its inclusion proof) and the MQTT acknowledgement — never
    /// before the ledger holds what the receipt says.
    /// </summary>
    private async Task ProcessAsync(Inbound message, CheckOutcome outcome)
    {
        try
        {
            Receipt receipt;
            if (outcome is Refused refused)
            {
                receipt = await RefuseAsync(message, refused, SecurityEventFor(message, refused));
            }
            else
            {
                var verified = (Verified)outcome;
                var s = verified.Signed.Submission;
                var answer = await grains.GetGrain<IDeviceGrain>(s.DeviceId).Submit(verified.Signed.Wire, message.ReceivedAt);
                receipt = answer.Kind switch
                {
                    DeviceAnswerKind.Refused => await RefuseAsync(message, ChainRefusal(verified, answer), ChainRefusalEvent(message, verified, answer)),
                    _ => await AcceptedAsync(message, verified, answer),
                };
            }
            await SendReceiptAsync(message, receipt);
            stats.OnAnswered(time.GetTimestamp(), time.GetUtcNow() - message.ReceivedAt);
            await message.Ack();
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException || _client is { IsConnected: false })
        {
            // The broker went away mid-answer (a restart): recorded already; the device resends and gets a duplicate receipt.
            logger.LogInformation("No receipt for {Hash}: the broker connection dropped", outcome.Hash);
        }
        catch (Exception e)
        {
            // Not acknowledged: the device sends again. What was committed stays; its resend gets a duplicate receipt.
            logger.LogError(e, "Processing {Hash} on {Topic} failed; not acknowledged, the device will send it again", outcome.Hash, message.Topic);
        }
    }

    private async Task<Receipt> AcceptedAsync(Inbound message, Verified verified, DeviceAnswer answer)
    {
        var s = verified.Signed.Submission;
        if (answer.Kind == DeviceAnswerKind.Accepted)
        {
            await recap.AcceptAsync(s.Tps, s.Contest, answer.Position, s.Sequence, verified.Totals);
            anomalies.Observe(s.Tally, answer.Position);
            stats.OnAccepted();
        }
        else
        {
            stats.OnDuplicate();
            logger.LogInformation("Duplicate of ledger entry {Position} on {Topic}: counted once", answer.Position, message.Topic);
        }
        var checkpoint = await log.CheckpointCoveringAsync(answer.LogIndex);
        var proof = log.ProveInclusion(answer.LogIndex, checkpoint);
        return new Receipt
        {
            Status = answer.Kind == DeviceAnswerKind.Accepted ? ReceiptStatus.Accepted : ReceiptStatus.Duplicate,
            SubmissionHash = verified.Hash.ToString(),
            LedgerPosition = answer.Position,
            LogIndex = answer.LogIndex,
            Tps = s.Tps.Value,
            Contest = s.Contest.Slug(),
            Sequence = s.Sequence,
            Ts = time.GetUtcNow(),
            Checkpoint = checkpoint.Note,
            InclusionProof = proof.Proof.Select(Convert.ToBase64String).ToArray(),
        };
    }

    /// <summary>
    /// Records a refusal (a rejection row and maybe a security event, at most a few a minute per sender and reason: a
    /// flooding device costs a handful of rows, and the next row says how many more) and makes its receipt.
    /// </summary>
    private async Task<Receipt> RefuseAsync(Inbound message, Refused refusal, SecurityEvent? securityEvent)
    {
        if (_refusals.ShouldReport(refusal.Reason, message.Sender ?? message.Topic, out long more))
        {
            var events = securityEvent is null ? [] : new[]
            {
                more == 0 ? securityEvent : securityEvent with
                {
                    Evidence = new Dictionary<string, string>(securityEvent.Evidence ?? new Dictionary<string, string>(), StringComparer.Ordinal)
                    {
                        ["repeats_since_last_report"] = more.ToString(CultureInfo.InvariantCulture),
                    },
                },
            };
            await writer.AppendAsync(new LedgerBatch { Rejections = [ToRejection(message, refusal, more)], Events = events });
        }
        stats.OnRejected(refusal.Reason);
        if (RejectReasons.IsSecurityRelevant(refusal.Reason))
            logger.LogWarning("Security: rejected {Reason} on {Topic} from device {Device}: {Detail}",
                refusal.Reason, message.Topic, refusal.Submission?.DeviceId ?? "?", refusal.Detail);
        else
            logger.LogWarning("Rejected {Reason} on {Topic}: {Detail}", refusal.Reason, message.Topic, refusal.Detail);
        var now = time.GetUtcNow();
        var submission = refusal.Submission;
        return new Receipt
        {
            Status = ReceiptStatus.Rejected,
            SubmissionHash = refusal.Hash.ToString(),
            Reason = refusal.Reason,
            // Only a verdict on the form's own bytes is signed: a refusal for who sent it or where must never
            // become a final word a device could be shown about its form.
            Rejection = RejectReasons.IsFinal(refusal.Reason) ? log.SignRejection(refusal.Hash, refusal.Reason, now) : null,
            Detail = refusal.Detail,
            Violations = refusal.Violations,
            Tps = submission?.Tps.Value,
            Contest = submission?.Contest.Slug(),
            Sequence = submission?.Sequence,
            Ts = now,
        };
    }

    private static Refused ChainRefusal(Verified verified, DeviceAnswer answer) =>
        new(verified.Hash, answer.Reason!, answer.Detail!, verified.Signed.Submission) { Genuine = true };

    /// <summary>A refusal for the chain is critical news; one for corrections is an ordinary refusal's event.</summary>
    private static SecurityEvent? ChainRefusalEvent(Inbound message, Verified verified, DeviceAnswer answer)
    {
        if (answer.Verdict is not { } kind || !new ChainVerdict(kind, "").Refused) return SecurityEventFor(message, ChainRefusal(verified, answer));
        string eventKind = kind switch
        {
            ChainVerdictKind.Fork => SecurityEventKinds.ChainFork,
            ChainVerdictKind.Rewind => SecurityEventKinds.ChainRewind,
            _ => SecurityEventKinds.ChainJump,
        };
        var other = answer.ConflictingHash is { } bytes ? Sha256Hash.FromBytes(bytes) : (Sha256Hash?)null;
        return ChainEvent(message, verified.Signed.Submission, new ChainVerdict(kind, answer.VerdictDetail ?? ""), eventKind,
            SecuritySeverity.Critical, verified.Hash, other);
    }


    private static SecurityEvent ChainEvent(Inbound message, Submission s, ChainVerdict verdict, string kind, SecuritySeverity severity, Sha256Hash hash, Sha256Hash? other)
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

    /// <summary>Answers an image chunk on its sender's image topic.</summary>
    /// <remarks>
    /// At QoS 0: where a page stands is news only while the device is there to act on it. A device away (a VSAT reset)
    /// asks again when it is back, and its session does not fill with stale progress it would have to read and check
    /// on reconnecting — 1,000 devices resetting every few minutes made that backlog the run's main cost.
    /// </remarks>
    private Task AnswerImageAsync(string topic, byte[] ack, byte[]? correlation) =>
        ReplyAsync(topic, ack, correlation, "image acknowledgement", MqttQualityOfServiceLevel.AtMostOnce);

    /// <summary>Answers a PPK statement on its station's receipt topic.</summary>
    private Task AnswerStatementAsync(string topic, byte[] receipt, byte[]? correlation) => ReplyAsync(topic, receipt, correlation, "PPK statement receipt");

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
