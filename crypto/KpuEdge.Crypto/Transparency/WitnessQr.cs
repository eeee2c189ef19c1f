using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;

namespace KpuEdge.Crypto.Transparency;

/// <summary>
/// The QR code the device shows the saksi (party witnesses) at the TPS: the signed submission itself, so a witness's
/// phone photo is enough to check the signature and, later, that exactly these bytes are in the public log.
/// Payload = <c>"KPU1S:" + base64url(wire)</c> without padding: QR byte mode, and no '+', '/' or '=' that URL-minded
/// scanners mangle. A PPWP form gives ~350 characters (a version-14 code); a full DPR form (~1.5 KB) still fits one
/// code at ECC level M (version 38 of 40).
/// </summary>
public static class WitnessQr
{
    public const string Prefix = "KPU1S:";
    /// <summary>Largest submission a witness QR carries (4 KiB); larger payloads are refused unread.</summary>
    public const int MaxWireBytes = 4096;

    public static string Encode(SignedSubmission submission) => Encode(submission.Wire);

    public static string Encode(ReadOnlySpan<byte> wire)
    {
        if (wire.Length == 0 || wire.Length > MaxWireBytes) throw new ArgumentException($"A witness QR carries 1..{MaxWireBytes} bytes, not {wire.Length}.", nameof(wire));
        return Prefix + Base64Url.EncodeToString(wire);
    }

    /// <summary>Recovers the wire bytes; <paramref name="error"/> says why not ("wrong_prefix", "bad_base64", "oversized", "empty").</summary>
    public static bool TryDecode(string? payload, [NotNullWhen(true)] out byte[]? wire, [NotNullWhen(false)] out string? error)
    {
        wire = null;
        if (payload is null || !payload.StartsWith(Prefix, StringComparison.Ordinal))
        {
            error = "wrong_prefix";
            return false;
        }
        var text = payload.AsSpan(Prefix.Length);
        if (text.Length == 0)
        {
            error = "empty";
            return false;
        }
        if (text.Length > Base64Url.GetEncodedLength(MaxWireBytes))
        {
            error = "oversized";
            return false;
        }
        // One text per submission: only the URL alphabet, no padding, no whitespace, zero spare bits.
        foreach (char c in text)
        {
            if (!(c is >= 'A' and <= 'Z' or >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_'))
            {
                error = "bad_base64";
                return false;
            }
        }
        if (text.Length % 4 == 1)
        {
            error = "bad_base64";
            return false;
        }
        var decoded = new byte[Base64Url.GetMaxDecodedLength(text.Length)];
        int written;
        try
        {
            if (!Base64Url.TryDecodeFromChars(text, decoded, out written)) written = -1;
        }
        catch (FormatException)
        {
            written = -1;
        }
        if (written < 0 || !Base64Url.EncodeToString(decoded.AsSpan(0, written)).AsSpan().SequenceEqual(text))
        {
            error = "bad_base64";
            return false;
        }
        wire = decoded[..written];
        error = null;
        return true;
    }
}
