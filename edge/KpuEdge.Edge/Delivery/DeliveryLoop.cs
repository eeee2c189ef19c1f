using System.Buffers;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using KpuEdge.Broker;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Images;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Health;
using KpuEdge.Edge.Transport;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace KpuEdge.Edge.Delivery;

/// <summary>How the delivery loop treats the link. Defaults suit a shared satellite channel.</summary>
public sealed record DeliveryOptions
{
    /// <summary>MQTT keep-alive: how soon a half-open link (a satellite hop gone quiet) is noticed.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How long the broker keeps the device's session (subscription, queued receipts) while it is away.</summary>
    public TimeSpan SessionExpiry { get; init; } = TimeSpan.FromDays(7);
    /// <summary>A form sent this long ago without a verified receipt is sent again (the cloud counts it once).</summary>
    public TimeSpan ResendAfter { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Reconnect backoff: full jitter over base·2^attempt, capped.</summary>
    public TimeSpan BackoffBase { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Forms awaiting receipt at once: enough to fill a thin link's round trip, few enough to resend cheaply.</summary>
    public int MaxInFlight { get; init; } = 5;
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Bytes of a page image per chunk: small enough that a drop loses little, large enough to keep the link busy.</summary>
    public int ImageChunkBytes { get; init; } = 16 * 1024;
    /// <summary>Image chunks sent ahead of the cloud's confirmation.</summary>
    public int ImageChunksInFlight { get; init; } = 4;
    /// <summary>Seed of the backoff jitter (tests and simulations repeat exactly).</summary>
    public int? Seed { get; init; }
}

/// <summary>
/// The loop that owns a device's connection and drains its <see cref="Outbox"/>: MQTT 5 persistent session (clean
/// start off, session expiry set) over mutual TLS, keep-alive, reconnect with jittered exponential backoff, forms
/// sent first things first with a bounded number in flight, resent until a receipt arrives whose inclusion proof
/// verifies. MQTTnet 5 has no managed client; this is ours. It never decides a form is delivered on its own.
/// </summary>
public sealed class DeliveryLoop : IAsyncDisposable
{
    private readonly Outbox _outbox;
    private readonly string _deviceId;
    private readonly BrokerConnection _broker;
    private readonly DeliveryOptions _options;
    private readonly TimeProvider _time;
    private readonly Random _jitter;
    private readonly IMqttClient _client;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _healthSent;
    private long _connects, _receiptsRefused, _chunksSent, _pageAnswersRefused, _pageRestarts, _refusalsNotFinal, _quotaRefusals;
    /// <summary>Per page being sent: how far chunks went out, and when the cloud last confirmed progress. Reset on reconnect.</summary>
    private readonly Dictionary<(Sha256Hash, int), PageSending> _sending = [];

    private sealed class PageSending(int sentTo, DateTimeOffset lastProgress)
    {
        public int SentTo = sentTo;
        public DateTimeOffset LastProgress = lastProgress;
        /// <summary>Restarts since the last progress: each doubles the next wait, so a cloud behind on photos is not buried in repeats.</summary>
        public int Restarts;

        public TimeSpan Quiet(TimeSpan resendAfter) => resendAfter * (1 << Math.Min(Restarts, 3));
    }

    public DeliveryLoop(Outbox outbox, string deviceId, BrokerConnection broker, DeliveryOptions? options = null, TimeProvider? time = null)
    {
        _outbox = outbox;
        _deviceId = deviceId;
        _broker = broker;
        _options = options ?? new DeliveryOptions();
        _time = time ?? TimeProvider.System;
        _jitter = _options.Seed is { } seed ? new Random(seed) : new Random();
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var message = e.ApplicationMessage;
            if (message.Topic == Topics.ImageAck(_deviceId)) OnImageAck(message.Payload.ToArray());
            else OnReceipt(message.Payload.ToArray(), message.CorrelationData);
            return Task.CompletedTask;
        };
        _client.DisconnectedAsync += _ =>
        {
            Wake();
            return Task.CompletedTask;
        };
    }

    /// <summary>Raised after every change the operator should see (queued, sent, receipted, refused).</summary>
    public event Action<OutboxStatus>? StatusChanged;

    /// <summary>The link as this loop sees it (round trip, the cloud's clock, reconnects), for the health reports.</summary>
    public LinkMonitor Link { get; } = new();

    /// <summary>A receipt came whose log proof or signature did not verify (the form is sent again): a security event.</summary>
    public event Action<string>? ReceiptProofFailed;

    /// <summary>The broker refused the TLS handshake (a certificate problem, or someone in between).</summary>
    public event Action<string>? TlsRefused;

    /// <summary>Health reports the broker acknowledged.</summary>
    public long HealthReportsSent => Interlocked.Read(ref _healthSent);

    /// <summary>Raised when the broker has acknowledged a health report (its sequence number) and it has left the outbox.</summary>
    public event Action<ulong>? HealthDelivered;

    /// <summary>
    /// Raised for each receipt of an outbox entry that the loop believes (its proof verified, or a rejection), with the
    /// entry it answers, before the outbox records it: a listener that keeps receipts (a PPK station returning them to
    /// the TPS device) misses none — should the process stop in between, the form is sent again and answered again.
    /// </summary>
    public event Action<OutboxEntry, Receipt>? Receipted;

    /// <summary>
    /// Raised for each final answer about a page that the loop believes (the cloud's signed statement verified: stored,
    /// or refused for good), before the outbox records it — so a PPK station can keep it for the TPS device whose page it was.
    /// </summary>
    public event Action<Sha256Hash, int, ImageAck>? PageSettled;

    public long Connects => Interlocked.Read(ref _connects);

    /// <summary>Receipts ignored because their proof did not verify (forged, or for other bytes).</summary>
    public long ReceiptsRefused => Interlocked.Read(ref _receiptsRefused);

    public bool IsConnected => _client.IsConnected;

    /// <summary>
    /// Refusals that say nothing final about a form (<see cref="RejectReasons.IsFinal"/>: misaddressed, replayed by
    /// another device, rate limited, unknown): the form is kept and sent again. The last one is shown to the operator.
    /// </summary>
    public long RefusalsNotFinal => Interlocked.Read(ref _refusalsNotFinal);

    public string? LastRefusalNotFinal { get; private set; }

    /// <summary>Publishes the broker refused as over this device's quota (sent again later).</summary>
    public long QuotaRefusals => Interlocked.Read(ref _quotaRefusals);

    /// <summary>Image chunks published (resends included).</summary>
    public long ChunksSent => Interlocked.Read(ref _chunksSent);

    /// <summary>
    /// Times a page was sent again from the last confirmed byte because the cloud went quiet about it for the resend
    /// interval (or, held whole on the way, asked about again): with reconnects, what bounds the chunks sent twice.
    /// </summary>
    public long PageRestarts => Interlocked.Read(ref _pageRestarts);

    /// <summary>
    /// Final answers about pages not taken as final because they carried no statement that verifies: forged, or a PPK
    /// station's "held here" (the page then counts as handed over, and is asked about again until the cloud's word comes).
    /// </summary>
    public long PageAnswersRefused => Interlocked.Read(ref _pageAnswersRefused);

    /// <summary>Tells the loop new forms are in the outbox.</summary>
    public void Wake() => Interlocked.Exchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Runs until cancelled: connect, drain, wait, reconnect when the link drops.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _outbox.ReleaseInFlight();
        int attempt = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (!_client.IsConnected) await ConnectAsync(cancellationToken);
                attempt = 0;
                await DrainWhileConnectedAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // The link failed (refused, reset, timed out): nothing is lost, the outbox still holds every form.
                if (e is AuthenticationException || e.InnerException is AuthenticationException) TlsRefused?.Invoke(e.InnerException?.Message ?? e.Message);
            }
            if (cancellationToken.IsCancellationRequested) break;
            var delay = Backoff(attempt++);
            try { await Task.Delay(delay, _time, cancellationToken); }
            catch (OperationCanceledException) { break; }
        }
    }

    /// <summary>
    /// Runs until the outbox is settled — every form receipted or refused, every page stored or refused — or
    /// <paramref name="timeout"/> has passed; true when settled. What is left stays in the outbox.
    /// </summary>
    public async Task<bool> RunUntilSettledAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var settled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnStatus(OutboxStatus status)
        {
            if (status.AllSettled) settled.TrySetResult();
        }
        StatusChanged += OnStatus;
        try
        {
            if (_outbox.Status().AllSettled) return true;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var running = RunAsync(stop.Token);
            bool done = await Task.WhenAny(settled.Task, Task.Delay(timeout, _time, cancellationToken)) == settled.Task;
            await stop.CancelAsync();
            await running;
            return done;
        }
        finally
        {
            StatusChanged -= OnStatus;
        }
    }

    /// <summary>Full jitter: a uniform wait in [0, min(max, base·2^attempt)].</summary>
    private TimeSpan Backoff(int attempt)
    {
        double cap = Math.Min(_options.BackoffMax.TotalMilliseconds, _options.BackoffBase.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30)));
        double wait;
        lock (_jitter) wait = _jitter.NextDouble() * cap;
        return TimeSpan.FromMilliseconds(wait);
    }

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        var options = _broker.ClientOptions(_deviceId, _time)
            .WithCleanStart(false)
            .WithSessionExpiryInterval((uint)_options.SessionExpiry.TotalSeconds)
            .WithKeepAlivePeriod(_options.KeepAlive)
            .WithTimeout(_options.ConnectTimeout)
            .Build()
            .WithSocketBuffers(ClientSockets.DeviceBufferBytes);
        var connected = await _client.ConnectAsync(options, cancellationToken);
        Interlocked.Increment(ref _connects);
        Link.Connected();
        Link.TlsAccepted();
        // A resumed session keeps the subscription; subscribing again is harmless and covers a broker that lost it.
        var subscribe = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(Topics.Receipt(_deviceId)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .WithTopicFilter(f => f.WithTopic(Topics.ImageAck(_deviceId)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .Build();
        var result = await _client.SubscribeAsync(subscribe, cancellationToken);
        if (result.Items.FirstOrDefault(i => i.ResultCode > MqttClientSubscribeResultCode.GrantedQoS2) is { } refused)
            throw new InvalidOperationException($"The broker refused the subscription to {refused.TopicFilter.Topic}: {refused.ResultCode}.");
        _ = connected;
        // Whatever chunks were on the way are lost with the old connection: continue from what the cloud confirmed.
        lock (_sending) _sending.Clear();
    }

    private async Task DrainWhileConnectedAsync(CancellationToken cancellationToken)
    {
        while (_client.IsConnected && !cancellationToken.IsCancellationRequested)
        {
            // Taken before looking at the outbox: a wake-up during the sends below is not missed.
            var woken = Volatile.Read(ref _wake).Task;
            await SendHealthAsync(cancellationToken);
            int room = _options.MaxInFlight - _outbox.InFlight(_options.ResendAfter);
            foreach (var entry in room > 0 ? _outbox.Due(_options.ResendAfter, room) : [])
            {
                // Under our own name: the cloud answers the sender the topic names, on its receipt topic. A PPK station's
                // own statements go to its statement topic.
                var message = new MqttApplicationMessageBuilder()
                    .WithTopic(entry.Kind == OutboxKind.PpkStatement ? Topics.PpkStatement(_deviceId) : Topics.Submission(entry.Tps, entry.Contest, _deviceId))
                    .WithPayload(entry.Wire)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                    .WithCorrelationData(entry.Hash.ToArray())
                    .Build();
                var published = await _client.PublishAsync(message, cancellationToken);
                if (published.ReasonCode == MqttClientPublishReasonCode.NotAuthorized)
                    throw new UnauthorizedAccessException($"The broker refused the publish of {entry.Hash}.");
                // Counted as sent either way: refused for quota, it goes again when its resend falls due, and so do the rest.
                _outbox.MarkSent(entry.Hash);
                StatusChanged?.Invoke(_outbox.Status());
                if (published.ReasonCode == MqttClientPublishReasonCode.QuotaExceeded)
                {
                    Interlocked.Increment(ref _quotaRefusals);
                    break;
                }
            }
            // The photos only when no number is waiting to go.
            var imageWait = _options.ResendAfter;
            if (_outbox.Due(_options.ResendAfter, 1).Count == 0) imageWait = await SendImageChunksAsync(cancellationToken);
            // Sleep until a receipt, new work or a drop wakes us, or a resend falls due.
            using var nap = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var wait = NextResendIn();
            await Task.WhenAny(woken, Task.Delay(imageWait < wait ? imageWait : wait, _time, nap.Token));
            nap.Cancel();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// Sends the next chunks of the pages whose forms are receipted, keeping at most <see cref="DeliveryOptions.ImageChunksInFlight"/>
    /// ahead of what the cloud confirmed; a page whose confirmations stalled for the resend interval starts again from the
    /// last confirmed byte (the wait doubling, up to 8×, while the cloud stays quiet about it). Returns how long until such
    /// a stall would be due.
    /// </summary>
    private async Task<TimeSpan> SendImageChunksAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var pages = _outbox.PagesToSend(2);
        if (pages.Count == 0) return _options.ResendAfter;
        int window = _options.ImageChunksInFlight;
        var toSend = new List<(string Topic, ImageChunk Chunk)>();
        var nextStall = _options.ResendAfter;
        lock (_sending)
        {
            foreach (var page in pages)
            {
                var key = (page.ImageHash, page.Page);
                if (!_sending.TryGetValue(key, out var sending)) _sending[key] = sending = new PageSending(page.Confirmed, now);
                if (sending.SentTo < page.Confirmed) sending.SentTo = page.Confirmed;
                bool quiet = now - sending.LastProgress >= sending.Quiet(_options.ResendAfter);
                if (quiet && (sending.SentTo > page.Confirmed || page.Confirmed >= page.Size))
                {
                    // The cloud went quiet about this page: resend from what it holds. A page held whole on the way (a PPK
                    // station) without the cloud's signed word yet is asked about again with its last chunk, which the
                    // holder answers with that word once it has it.
                    sending.SentTo = page.Confirmed >= page.Size
                        ? (page.Size - 1) / _options.ImageChunkBytes * _options.ImageChunkBytes
                        : page.Confirmed;
                    sending.LastProgress = now;
                    sending.Restarts++;
                    Interlocked.Increment(ref _pageRestarts);
                }
                int ahead = (sending.SentTo - page.Confirmed + _options.ImageChunkBytes - 1) / _options.ImageChunkBytes;
                for (int offset = sending.SentTo; offset < page.Size && ahead < window; offset = sending.SentTo, ahead++)
                {
                    var data = _outbox.ReadPage(page.ImageHash, page.Page, offset, Math.Min(_options.ImageChunkBytes, page.Size - offset));
                    toSend.Add((Topics.Image(page.Tps, page.Contest, _deviceId), new ImageChunk(page.ImageHash, page.PageHashes, page.Page, page.Size, offset, data)));
                    sending.SentTo = offset + data.Length;
                }
                var stall = sending.LastProgress + sending.Quiet(_options.ResendAfter) - now;
                if (stall < nextStall) nextStall = stall;
                window -= ahead;
                if (window <= 0) break;
            }
        }
        foreach (var (topic, chunk) in toSend)
        {
            var message = new MqttApplicationMessageBuilder()
                .WithTopic(topic)
                .WithPayload(chunk.Encode())
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            var published = await _client.PublishAsync(message, cancellationToken);
            if (published.ReasonCode == MqttClientPublishReasonCode.NotAuthorized)
                throw new UnauthorizedAccessException($"The broker refused an image chunk of {chunk.ImageHash}.");
            Interlocked.Increment(ref _chunksSent);
            // Over the broker's quota: the rest waits; the page restarts from what the cloud confirmed when it goes quiet.
            if (published.ReasonCode == MqttClientPublishReasonCode.QuotaExceeded)
            {
                Interlocked.Increment(ref _quotaRefusals);
                break;
            }
        }
        return nextStall < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : nextStall;
    }

    private void OnImageAck(byte[] payload)
    {
        var ack = ImageAck.TryParse(payload);
        if (ack is null || !Sha256Hash.TryParseHex(ack.ImageHash, out var imageHash)) return;
        bool final = false;
        switch (ack.Status)
        {
            case ImageAckStatus.Partial:
                _outbox.ConfirmPage(imageHash, ack.Page, ack.Received);
                break;
            case ImageAckStatus.Rejected when ack.Reason is ImageRefusals.HashMismatch or ImageRefusals.Conflict:
                _outbox.ConfirmPage(imageHash, ack.Page, 0); // the cloud dropped what it had of the page: from the start again
                ack = ack with { Received = 0 };
                break;
            default:
                // A final answer (stored, or refused): only now is the page looked up, for the hash its statement must name.
                if (_outbox.FindPage(imageHash, ack.Page) is not { } page) return;
                if (Believe(ack, imageHash, page.PageHash))
                {
                    PageSettled?.Invoke(imageHash, ack.Page, ack);
                    if (ack.Status == ImageAckStatus.Stored) _outbox.MarkPageStored(imageHash, ack.Page, ack.Statement);
                    else _outbox.MarkPageRefused(imageHash, ack.Page, $"{ack.Reason}: {ack.Detail}", ack.Statement);
                    final = true;
                    break;
                }
                Interlocked.Increment(ref _pageAnswersRefused);
                if (ack.Status != ImageAckStatus.Stored) return; // an unsigned refusal: as if lost, the page is asked about again
                // Held whole by whoever answered (a PPK station) but not the cloud's signed word: nothing more to send
                // for now, and the page stays in the outbox until that word comes.
                _outbox.ConfirmPage(imageHash, ack.Page, page.Size);
                ack = ack with { Status = ImageAckStatus.Partial, Received = page.Size };
                break;
        }
        lock (_sending)
        {
            if (_sending.TryGetValue((imageHash, ack.Page), out var sending))
            {
                sending.LastProgress = _time.GetUtcNow();
                sending.Restarts = 0;
                if (final || ack.Received < sending.SentTo - _options.ImageChunksInFlight * _options.ImageChunkBytes)
                    sending.SentTo = ack.Received; // behind what we believe sent by more than the window: the cloud is the judge
                if (final) _sending.Remove((imageHash, ack.Page));
            }
        }
        StatusChanged?.Invoke(_outbox.Status());
        Wake();
    }

    /// <summary>
    /// A final answer about a page counts only with the cloud's signed statement about that very page and outcome; a
    /// device given no log key (tests of the transport alone) takes the answer as it comes.
    /// </summary>
    private bool Believe(ImageAck ack, Sha256Hash imageHash, Sha256Hash pageHash)
    {
        // A refusal for where a chunk came from, or of a page to start again, is never final, signed or not.
        if (ack.Status == ImageAckStatus.Rejected && !ImageRefusals.IsFinal(ack.Reason)) return false;
        if (_broker.LogKey is not { } logKey) return true;
        string outcome = ack.Status == ImageAckStatus.Stored ? ImageStatement.Stored : ack.Reason ?? "";
        return ImageStatement.Verify(ack.Statement, logKey, imageHash, ack.Page, pageHash, outcome).Ok;
    }

    /// <summary>Health reports waiting in the outbox, events first: a report is the cloud's once the broker acknowledges it.</summary>
    private async Task SendHealthAsync(CancellationToken cancellationToken)
    {
        foreach (var (sequence, wire) in _outbox.HealthToSend(8))
        {
            var message = new MqttApplicationMessageBuilder()
                .WithTopic(Topics.Telemetry(_deviceId))
                .WithPayload(wire)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            var published = await _client.PublishAsync(message, cancellationToken);
            if (published.ReasonCode == MqttClientPublishReasonCode.NotAuthorized)
                throw new UnauthorizedAccessException($"The broker refused health report {sequence}.");
            if (published.ReasonCode == MqttClientPublishReasonCode.QuotaExceeded) break; // the rest goes on the next round
            _outbox.MarkHealthDelivered(sequence);
            Interlocked.Increment(ref _healthSent);
            HealthDelivered?.Invoke(sequence);
        }
        // A PPK station's: its TPS devices' reports, under its own name.
        foreach (var (id, device, wire) in _outbox.RelayedHealthToSend(64))
        {
            var message = new MqttApplicationMessageBuilder()
                .WithTopic(Topics.RelayedTelemetry(_deviceId, device))
                .WithPayload(wire)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            var published = await _client.PublishAsync(message, cancellationToken);
            if (published.ReasonCode == MqttClientPublishReasonCode.NotAuthorized)
                throw new UnauthorizedAccessException($"The broker refused a health report relayed for {device}.");
            if (published.ReasonCode == MqttClientPublishReasonCode.QuotaExceeded) break;
            _outbox.MarkRelayedHealthDelivered(id);
            Interlocked.Increment(ref _relayedHealthSent);
        }
    }

    /// <summary>Health reports of TPS devices this station relayed and the broker acknowledged.</summary>
    public long RelayedHealthReportsSent => Interlocked.Read(ref _relayedHealthSent);
    private long _relayedHealthSent;

    private TimeSpan NextResendIn()
    {
        if (_outbox.NextResendAt(_options.ResendAfter) is not { } dueAt) return _options.ResendAfter;
        var due = dueAt - _time.GetUtcNow();
        return due < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : due;
    }

    private void OnReceipt(byte[] payload, byte[]? correlation)
    {
        var receipt = Receipt.TryParse(payload);
        if (receipt is null) return;
        var hash = correlation is { Length: 32 } ? Sha256Hash.FromBytes(correlation)
            : Sha256Hash.TryParseHex(receipt.SubmissionHash, out var h) ? h : default;
        if (hash.IsEmpty || _outbox.Find(hash) is not { } entry) return;
        if (receipt.Status == ReceiptStatus.Rejected && !RejectReasons.IsFinal(receipt.Reason))
        {
            // Refused for who sent it or where, or for load, or for a reason this device does not know: never a verdict
            // on the form, whoever signed the answer. The form stays in flight and is sent again when its resend falls due.
            Interlocked.Increment(ref _refusalsNotFinal);
            LastRefusalNotFinal = $"{receipt.Reason}: {receipt.Detail}";
            StatusChanged?.Invoke(_outbox.Status());
            return;
        }
        var logged = entry.Kind == OutboxKind.PpkStatement ? LogEntryType.PpkStatement : LogEntryType.Submission;
        if (_broker.LogKey is { } logKey && ReceiptVerifier.Verify(receipt, entry.Wire, logKey, logged) is { Ok: false } failed)
        {
            Interlocked.Increment(ref _receiptsRefused);
            ReceiptProofFailed?.Invoke($"tanda terima {hash.ToString()[..12]}… tidak terverifikasi: {failed.Error} ({failed.Detail})");
            return; // as if lost: the form stays in flight and is sent again
        }
        if (entry.LastSentAt is { } sentAt) Link.Receipt(sentAt, _time.GetUtcNow(), receipt.Ts);
        Receipted?.Invoke(entry, receipt);
        if (receipt.Status == ReceiptStatus.Rejected) _outbox.MarkRejected(hash, receipt);
        else _outbox.MarkReceipted(hash, receipt);
        StatusChanged?.Invoke(_outbox.Status());
        Wake();
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            // Best effort: the link may already be gone, or be going, in any of several ways; nothing depends on a clean goodbye.
            try { await _client.DisconnectAsync(); }
            catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or ObjectDisposedException
                                          or InvalidOperationException or IOException) { }
        }
        _client.Dispose();
    }
}
