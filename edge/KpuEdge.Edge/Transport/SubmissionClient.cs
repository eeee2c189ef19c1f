using System.Collections.Concurrent;
using System.Buffers;
using System.Security.Cryptography.X509Certificates;
using KpuEdge.Broker;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace KpuEdge.Edge.Transport;

/// <summary>
/// Where and how a device reaches the broker: MQTT over TLS with its client certificate, trusting only brokers whose
/// certificate chains to KPU's root. <paramref name="LogKey"/> verifies the transparency log's receipts (from the
/// device's configuration bundle); without it receipts are taken on trust (only tests of bad input do that).
/// </summary>
public sealed record BrokerConnection(string Host, int Port, X509Certificate2 ClientCertificate, TrustStore Trust, NoteVerifierKey? LogKey,
    string TlsName = "localhost")
{
    public static BrokerConnection For(DeviceCredentials device, string host, int port, NoteVerifierKey? logKey, string tlsName = "localhost") =>
        new(host, port, device.TlsClientCertificate(), device.CreateTrustStore(), logKey, tlsName);

    /// <summary>MQTT 5 over TLS with the device's certificate as <paramref name="clientId"/>; the caller adds its session settings.</summary>
    public MqttClientOptionsBuilder ClientOptions(string clientId, TimeProvider time) => new MqttClientOptionsBuilder()
        .WithTcpServer(Host, Port)
        .WithTlsOptions(tls => tls
            .UseTls()
            .WithTargetHost(TlsName)
            .WithClientCertificates(new X509Certificate2Collection(ClientCertificate))
            .WithCertificateValidationHandler(e => KpuTls.IsTrustedServer(Trust, e.Certificate, time.GetUtcNow(), out _)))
        .WithClientId(clientId)
        .WithProtocolVersion(MqttProtocolVersion.V500);
}

/// <summary>A receipt the device refused to believe (forged, or a proof that does not lead to a signed checkpoint).</summary>
public sealed class ReceiptNotVerifiedException(string message) : Exception(message);

/// <summary>
/// A device's MQTT 5 connection to the cloud: publishes signed forms (QoS 1) to its TPS topic under its own name, hears
/// the answers on its own receipt topic, and matches receipts by correlation data (the submission hash). A form counts
/// as delivered only when its receipt arrives and its inclusion proof verifies; until then it may be sent again,
/// which the cloud counts once. A refusal that is not final (<see cref="RejectReasons.IsFinal"/>) is returned as it
/// came, unsigned: the caller keeps the form.
/// </summary>
public sealed class SubmissionClient : IAsyncDisposable
{
    private sealed record Pending(TaskCompletionSource<Receipt> Waiter, byte[] Wire, LogEntryType Entry)
    {
        public string? LastRefusal { get; set; }
    }

    private readonly IMqttClient _client;
    private readonly string _deviceId;
    private readonly BrokerConnection _broker;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private long _receiptsRefused;

    public SubmissionClient(string deviceId, BrokerConnection broker, TimeProvider? time = null)
    {
        _deviceId = deviceId;
        _broker = broker;
        _time = time ?? TimeProvider.System;
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var receipt = Receipt.TryParse(e.ApplicationMessage.Payload.ToArray());
            if (receipt is null) return Task.CompletedTask;
            string key = e.ApplicationMessage.CorrelationData is { Length: > 0 } correlation
                ? Convert.ToHexStringLower(correlation)
                : receipt.SubmissionHash;
            if (!_pending.TryGetValue(key, out var pending)) return Task.CompletedTask;
            // A refusal that is not final (misaddressed, replayed, rate limited) carries no signed statement: it is passed
            // on as what it is — an answer about this sending, never a verdict on the form (RejectReasons.IsFinal).
            bool notFinal = receipt.Status == ReceiptStatus.Rejected && !RejectReasons.IsFinal(receipt.Reason);
            if (_broker.LogKey is { } logKey && !notFinal)
            {
                var check = ReceiptVerifier.Verify(receipt, pending.Wire, logKey, pending.Entry);
                if (!check.Ok)
                {
                    Interlocked.Increment(ref _receiptsRefused);
                    pending.LastRefusal = $"{check.Error}: {check.Detail}";
                    return Task.CompletedTask;
                }
            }
            if (_pending.TryRemove(key, out _)) pending.Waiter.TrySetResult(receipt);
            return Task.CompletedTask;
        };
    }

    public string ReceiptTopic => Topics.Receipt(_deviceId);

    public string DeviceId => _deviceId;

    public bool IsConnected => _client.IsConnected;

    /// <summary>Receipts ignored because their proof did not verify.</summary>
    public long ReceiptsRefused => Interlocked.Read(ref _receiptsRefused);

    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        var options = _broker.ClientOptions(_deviceId, _time)
            .WithCleanStart()
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(30))
            .WithTimeout(TimeSpan.FromSeconds(30))
            .Build()
            .WithSocketBuffers(ClientSockets.DeviceBufferBytes);
        await _client.ConnectAsync(options, cancellationToken);
        var subscribe = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(ReceiptTopic).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .Build();
        var result = await _client.SubscribeAsync(subscribe, cancellationToken);
        var code = result.Items.First().ResultCode;
        if (code > MqttClientSubscribeResultCode.GrantedQoS2)
            throw new InvalidOperationException($"The broker refused the subscription to {ReceiptTopic}: {code}.");
    }

    /// <summary>Sends a signed form and waits for its verified receipt, sending again if none comes within <paramref name="receiptTimeout"/>.</summary>
    public Task<Receipt> SubmitAsync(SignedSubmission submission, TimeSpan receiptTimeout, int attempts = 3, CancellationToken cancellationToken = default) =>
        SendAsync(Topics.Submission(submission.Submission.Tps, submission.Submission.Contest, _deviceId), submission.Wire,
            submission.Hash.ToArray(), receiptTimeout, attempts, cancellationToken);

    /// <summary>Sends a PPK station's signed statement and waits for its verified receipt (the station's own, not relayed).</summary>
    public Task<Receipt> SubmitStatementAsync(Crypto.Ppk.SignedPpkStatement statement, TimeSpan receiptTimeout, int attempts = 3, CancellationToken cancellationToken = default) =>
        SendAsync(Topics.PpkStatement(_deviceId), statement.Wire, statement.Hash.ToArray(), receiptTimeout, attempts, cancellationToken, LogEntryType.PpkStatement);

    /// <summary>Publishes any bytes to any topic and waits for the receipt (tests of bad input use this).</summary>
    public async Task<Receipt> SendAsync(string topic, byte[] payload, byte[] correlation, TimeSpan receiptTimeout, int attempts = 1,
        CancellationToken cancellationToken = default, LogEntryType entry = LogEntryType.Submission)
    {
        string key = Convert.ToHexStringLower(correlation);
        var pending = _pending.GetOrAdd(key, _ => new Pending(new TaskCompletionSource<Receipt>(TaskCreationOptions.RunContinuationsAsynchronously), payload, entry));
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithCorrelationData(correlation)
            .Build();
        for (int attempt = 1; ; attempt++)
        {
            var published = await _client.PublishAsync(message, cancellationToken);
            if (published.ReasonCode == MqttClientPublishReasonCode.NotAuthorized)
            {
                _pending.TryRemove(key, out _);
                throw new UnauthorizedAccessException($"The broker refused the publish to '{topic}': not authorised for this device.");
            }
            // WaitAsync drops its timer as soon as the receipt is in: a station relaying thousands of forms a minute
            // would otherwise keep a timer per form alive for the whole timeout.
            try { return await pending.Waiter.Task.WaitAsync(receiptTimeout, _time, cancellationToken); }
            catch (TimeoutException) { }
            if (attempt >= attempts)
            {
                _pending.TryRemove(key, out _);
                if (pending.LastRefusal is { } refusal)
                    throw new ReceiptNotVerifiedException($"The receipt for {key} did not verify ({refusal}); the form is not delivered.");
                throw new TimeoutException($"No receipt for {key} after {attempts} attempt(s).");
            }
        }
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
