using System.Collections.Concurrent;
using System.Buffers;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace KpuEdge.Edge.Transport;

/// <summary>
/// A device's MQTT 5 connection to the cloud: publishes signed forms (QoS 1) to its TPS topic with its receipt
/// topic as the response topic, and matches receipts by correlation data (the submission hash). A form counts
/// as delivered only when its receipt arrives; until then it may be sent again, which the cloud counts once.
/// </summary>
public sealed class SubmissionClient : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly string _deviceId;
    private readonly string _host;
    private readonly int _port;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<Receipt>> _pending = new(StringComparer.Ordinal);

    public SubmissionClient(string deviceId, string host, int port, TimeProvider? time = null)
    {
        _deviceId = deviceId;
        _host = host;
        _port = port;
        _time = time ?? TimeProvider.System;
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var receipt = Receipt.TryParse(e.ApplicationMessage.Payload.ToArray());
            if (receipt is null) return Task.CompletedTask;
            string key = e.ApplicationMessage.CorrelationData is { Length: > 0 } correlation
                ? Convert.ToHexStringLower(correlation)
                : receipt.SubmissionHash;
            if (_pending.TryRemove(key, out var waiter)) waiter.TrySetResult(receipt);
            return Task.CompletedTask;
        };
    }

    public string ReceiptTopic => Topics.Receipt(_deviceId);

    public bool IsConnected => _client.IsConnected;

    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(_host, _port)
            .WithClientId(_deviceId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart()
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(30))
            .WithTimeout(TimeSpan.FromSeconds(30))
            .Build();
        await _client.ConnectAsync(options, cancellationToken);
        var subscribe = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(ReceiptTopic).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .Build();
        await _client.SubscribeAsync(subscribe, cancellationToken);
    }

    /// <summary>Sends a signed form and waits for its receipt, sending again if none comes within <paramref name="receiptTimeout"/>.</summary>
    public Task<Receipt> SubmitAsync(SignedSubmission submission, TimeSpan receiptTimeout, int attempts = 3, CancellationToken cancellationToken = default) =>
        SendAsync(Topics.Submission(submission.Submission.Tps, submission.Submission.Contest), submission.Wire,
            submission.Hash.ToArray(), receiptTimeout, attempts, cancellationToken);

    /// <summary>Publishes any bytes to any topic and waits for the receipt (tests of bad input use this).</summary>
    public async Task<Receipt> SendAsync(string topic, byte[] payload, byte[] correlation, TimeSpan receiptTimeout, int attempts = 1, CancellationToken cancellationToken = default)
    {
        string key = Convert.ToHexStringLower(correlation);
        var waiter = _pending.GetOrAdd(key, _ => new TaskCompletionSource<Receipt>(TaskCreationOptions.RunContinuationsAsynchronously));
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithResponseTopic(ReceiptTopic)
            .WithCorrelationData(correlation)
            .Build();
        for (int attempt = 1; ; attempt++)
        {
            await _client.PublishAsync(message, cancellationToken);
            var timeout = Task.Delay(receiptTimeout, _time, cancellationToken);
            if (await Task.WhenAny(waiter.Task, timeout) == waiter.Task) return await waiter.Task;
            if (attempt >= attempts)
            {
                _pending.TryRemove(key, out _);
                throw new TimeoutException($"No receipt for {key} after {attempts} attempt(s).");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            try { await _client.DisconnectAsync(); }
            catch (MQTTnet.Exceptions.MqttCommunicationException) { /* the link is already gone */ }
        }
        _client.Dispose();
    }
}
