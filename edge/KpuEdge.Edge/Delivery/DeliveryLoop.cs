using System.Buffers;
using System.Security.Cryptography.X509Certificates;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
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
    private long _connects, _receiptsRefused;

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
            OnReceipt(e.ApplicationMessage.Payload.ToArray(), e.ApplicationMessage.CorrelationData);
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

    public long Connects => Interlocked.Read(ref _connects);

    /// <summary>Receipts ignored because their proof did not verify (forged, or for other bytes).</summary>
    public long ReceiptsRefused => Interlocked.Read(ref _receiptsRefused);

    public bool IsConnected => _client.IsConnected;

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
            }
            if (cancellationToken.IsCancellationRequested) break;
            var delay = Backoff(attempt++);
            try { await Task.Delay(delay, _time, cancellationToken); }
            catch (OperationCanceledException) { break; }
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
            .Build();
        var connected = await _client.ConnectAsync(options, cancellationToken);
        Interlocked.Increment(ref _connects);
        // A resumed session keeps the subscription; subscribing again is harmless and covers a broker that lost it.
        var subscribe = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(Topics.Receipt(_deviceId)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .Build();
        var result = await _client.SubscribeAsync(subscribe, cancellationToken);
        if (result.Items.First().ResultCode > MqttClientSubscribeResultCode.GrantedQoS2)
            throw new InvalidOperationException($"The broker refused the receipt subscription: {result.Items.First().ResultCode}.");
        _ = connected;
    }

    private async Task DrainWhileConnectedAsync(CancellationToken cancellationToken)
    {
        while (_client.IsConnected && !cancellationToken.IsCancellationRequested)
        {
            // Taken before looking at the outbox: a wake-up during the sends below is not missed.
            var woken = Volatile.Read(ref _wake).Task;
            int room = _options.MaxInFlight - _outbox.InFlight(_options.ResendAfter);
            foreach (var entry in room > 0 ? _outbox.Due(_options.ResendAfter, room) : [])
            {
                var message = new MqttApplicationMessageBuilder()
                    .WithTopic(Topics.Submission(entry.Tps, entry.Contest))
                    .WithPayload(entry.Wire)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                    .WithResponseTopic(Topics.Receipt(_deviceId))
                    .WithCorrelationData(entry.Hash.ToArray())
                    .Build();
                var published = await _client.PublishAsync(message, cancellationToken);
                if (published.ReasonCode == MqttClientPublishReasonCode.NotAuthorized)
                    throw new UnauthorizedAccessException($"The broker refused the publish of {entry.Hash}.");
                _outbox.MarkSent(entry.Hash);
                StatusChanged?.Invoke(_outbox.Status());
            }
            // Sleep until a receipt, new work or a drop wakes us, or a resend falls due.
            using var nap = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            await Task.WhenAny(woken, Task.Delay(NextResendIn(), _time, nap.Token));
            nap.Cancel();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

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
        if (_broker.LogKey is { } logKey && !ReceiptVerifier.Verify(receipt, entry.Wire, logKey).Ok)
        {
            Interlocked.Increment(ref _receiptsRefused);
            return; // as if lost: the form stays in flight and is sent again
        }
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
