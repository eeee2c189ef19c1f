using KpuEdge.Core.Elections;
using KpuEdge.Edge.Delivery;

namespace KpuEdge.Edge.Relay;

/// <summary>What a PPK station tells its operator (<c>kpu-edge relay</c>), in Bahasa Indonesia.</summary>
public static class RelayMessages
{
    public static string Describe(RelayEvent e)
    {
        string form = $"{(e.Contest is { } contest ? contest.Slug() : "?")} TPS {e.Tps}";
        string number = e.Sequence is { } sequence ? $" nomor urut {sequence}" : "";
        return e.Kind switch
        {
            RelayEventKind.Connected => $"Perangkat {e.DeviceId} (TPS {e.Tps}) tersambung.",
            RelayEventKind.ConnectionRefused => $"Sambungan DITOLAK{(e.DeviceId is null ? "" : $" ({e.DeviceId})")}: {e.Detail}",
            RelayEventKind.Denied => $"DITOLAK untuk {e.DeviceId}: {e.Detail}",
            RelayEventKind.FormTaken => $"Formulir {form}{number} dari {e.DeviceId} disimpan di PPK; diteruskan ke pusat.",
            RelayEventKind.FormResent => $"Formulir {form}{number} dikirim ulang oleh {e.DeviceId} (sudah tersimpan di PPK).",
            RelayEventKind.FormRefused => $"Formulir dari {e.DeviceId} DITOLAK ({e.Reason}): {e.Detail} Tidak disimpan.",
            RelayEventKind.ReceiptReturned => $"Tanda terima pusat ({e.Reason}) untuk formulir {form}{number} diteruskan ke {e.DeviceId}.",
            RelayEventKind.PageHeld => $"Gambar {form} halaman {e.Page + 1}/{e.Pages} dari {e.DeviceId} tersimpan di PPK.",
            RelayEventKind.ChunkRefused => $"Potongan gambar {form} dari {e.DeviceId} DITOLAK ({e.Reason}): {e.Detail}",
            RelayEventKind.ImageForwarded => $"Gambar {form} lengkap ({e.Pages} halaman); diteruskan ke pusat.",
            RelayEventKind.Failed => $"GAGAL: {e.Detail} (perangkat TPS akan mengirim ulang).",
            _ => e.Detail,
        };
    }

    /// <summary>Where the station's own delivery to the cloud stands.</summary>
    public static string Status(OutboxStatus s) =>
        $"Ke pusat: {s.Queued} menunggu, {s.Sent} menunggu tanda terima, {s.Receipted} diterima, {s.Rejected} ditolak; " +
        $"gambar {s.Images.Stored}/{s.Images.Pages} halaman tersimpan di pusat.";
}
