namespace KpuEdge.Crypto.Health;

/// <summary>
/// A health report with its device signature, as it travels on the device's telemetry topic. Signed although the
/// broker already knows the sender: a report may wait in the outbox or come through a PPK station, and a tamper event
/// must prove which device raised it.
/// </summary>
public sealed class SignedHealthReport
{
    private readonly byte[] _signedMessage;

    private SignedHealthReport(HealthReport report, byte[] body, byte[] signature, byte[] wire)
    {
        Report = report;
        Signature = signature;
        Wire = wire;
        _signedMessage = HealthCodec.SignedMessage(body);
    }

    public HealthReport Report { get; }
    public byte[] Signature { get; }
    public byte[] Wire { get; }

    public static SignedHealthReport Sign(HealthReport report, DeviceKey key)
    {
        var body = HealthCodec.EncodeBody(report);
        var signature = key.Sign(HealthCodec.SignedMessage(body));
        return new SignedHealthReport(report, body, signature, HealthCodec.EncodeWire(body, signature));
    }

    /// <summary>Decodes wire bytes strictly; throws <see cref="HealthFormatException"/> with the reason.</summary>
    public static SignedHealthReport Decode(ReadOnlyMemory<byte> wire)
    {
        var (report, body, signature) = HealthCodec.DecodeWire(wire);
        return new SignedHealthReport(report, body, signature, wire.ToArray());
    }

    public bool VerifySignature(DevicePublicKey key) => key.Verify(_signedMessage, 0, _signedMessage.Length, Signature);
}
