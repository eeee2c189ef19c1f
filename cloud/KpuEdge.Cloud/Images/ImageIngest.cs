using System.Threading.Channels;
using KpuEdge.Core.Protocol;

namespace KpuEdge.Cloud.Images;

/// <summary>An image chunk taken off the broker, not yet acknowledged to it.</summary>
public sealed record InboundChunk(string Topic, byte[] Payload, byte[]? Correlation, Func<Task> Ack);

/// <summary>
/// The image side of the ingest: chunks queue here, apart from the forms, so that tallies never wait behind photos.
/// One worker writes them (<see cref="ImageReceiver"/>), answers the sender (named by the topic) on its image topic, then acknowledges
/// the chunk to the broker — after it is durable, like a form.
/// </summary>
public sealed class ImageIngest(ImageReceiver receiver, ILogger<ImageIngest> logger)
{
    private readonly Channel<InboundChunk> _queue = Channel.CreateBounded<InboundChunk>(new BoundedChannelOptions(2048) { SingleReader = true });

    public ValueTask EnqueueAsync(InboundChunk chunk, CancellationToken cancellationToken) => _queue.Writer.WriteAsync(chunk, cancellationToken);

    /// <summary>Works the queue until cancelled; <paramref name="answer"/> publishes an acknowledgement (topic, JSON, correlation).</summary>
    public async Task RunAsync(Func<string, byte[], byte[]?, Task> answer, CancellationToken cancellationToken)
    {
        await foreach (var chunk in _queue.Reader.ReadAllAsync(cancellationToken))
        {
            try
            {
                var ack = await receiver.ReceiveAsync(chunk.Topic, chunk.Payload);
                // The answer goes to the sender the topic names, which the broker ties to the client's certificate.
                if (Topics.TryParseImage(chunk.Topic, out var address)) await answer(Topics.ImageAck(address.Sender), ack.ToUtf8(), chunk.Correlation);
                else logger.LogWarning("Not answering an image chunk on '{Topic}': it names no sender", chunk.Topic);
                await chunk.Ack();
            }
            catch (MQTTnet.Exceptions.MqttCommunicationException)
            {
                // The broker went away mid-answer (a restart): what is on disk stays; the device resends from what it was told.
                logger.LogInformation("No answer to an image chunk on {Topic}: the broker connection dropped", chunk.Topic);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Not acknowledged: the broker redelivers it or the device resends it; what is on disk stays.
                logger.LogError(e, "Taking an image chunk on {Topic} failed", chunk.Topic);
            }
        }
    }
}
