using System.Text.Json;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Transport;

namespace KpuEdge.Cloud.Tests;

/// <summary>What the cluster fault tests do as a device and as an auditor, through whichever node they are pointed at.</summary>
internal static class ClusterChecks
{
    /// <summary>
    /// Sends until a receipt comes, through the node <paramref name="node"/> names at each try, as a device's delivery
    /// loop does: a node away or a cloud that cannot commit yet only means trying again.
    /// </summary>
    public static async Task<Receipt> DeliverAsync(DeviceCredentials device, SignedSubmission form, Func<int, BrokerConnection> connectionTo,
        Func<int> node, TimeSpan patience, TimeSpan receiptTimeout, int attempts)
    {
        var deadline = DateTimeOffset.UtcNow + patience;
        while (true)
        {
            try
            {
                await using var client = new SubmissionClient(device.DeviceId, connectionTo(node()));
                await client.ConnectAsync();
                return await client.SubmitAsync(form, receiptTimeout, attempts);
            }
            catch (Exception e) when (e is TimeoutException or MQTTnet.Exceptions.MqttCommunicationException or InvalidOperationException
                                          or System.Net.Sockets.SocketException && DateTimeOffset.UtcNow < deadline)
            {
                // The cloud is down or away: the device keeps the form and tries again.
            }
        }
    }

    /// <summary>A checkpoint published now through the node at <paramref name="api"/>, its signature checked.</summary>
    public static async Task<SignedCheckpoint> CheckpointAsync(Uri api, NoteVerifierKey logKey)
    {
        using var http = new HttpClient { BaseAddress = api };
        return SignedCheckpoint.Open(await http.GetStringAsync("api/v1/log/checkpoint?fresh=true"), logKey);
    }

    /// <summary>The later checkpoint's log extends the earlier one's: the consistency proof the node at <paramref name="api"/> gives verifies.</summary>
    public static async Task AssertLogExtendsAsync(SignedCheckpoint before, SignedCheckpoint after, Uri api)
    {
        Assert.True(after.Checkpoint.Size > before.Checkpoint.Size);
        using var http = new HttpClient { BaseAddress = api };
        var proof = JsonDocument.Parse(await http.GetStringAsync(
                $"api/v1/log/proof/consistency?from={before.Checkpoint.Size}&to={after.Checkpoint.Size}")).RootElement
            .GetProperty("proof").EnumerateArray().Select(p => Convert.FromBase64String(p.GetString()!)).ToList();
        Assert.True(MerkleProof.VerifyConsistency(before.Checkpoint.Size, after.Checkpoint.Size,
            before.Checkpoint.RootHash, after.Checkpoint.RootHash, proof), "The log after the fault does not extend the log before it.");
    }
}
