using System.Device.I2c;
using Iot.Device.Adc;
using KpuEdge.Crypto.Health;

namespace KpuEdge.Edge.Health;

/// <summary>Reads the device's power bus (battery voltage, current, power).</summary>
public interface IPowerMonitor
{
    BatteryReading Read();
}

/// <summary>
/// An INA219 on the I²C bus, read through the dotnet/iot binding (the bus device is injected: a fake in tests, the
/// Pi's <c>/dev/i2c-1</c> on a device). Calibrated for the usual 0.1 Ω shunt of UPS HATs: 32 V bus range, ±320 mV
/// shunt, 100 µA per current bit (±3.2 A).
/// </summary>
public sealed class Ina219PowerMonitor : IPowerMonitor, IDisposable
{
    /// <summary>On a Raspberry Pi: bus 1 (header pins 3 and 5), address 0x40 (A0 and A1 low).</summary>
    public const int DefaultBus = 1;
    public const int DefaultAddress = 0x40;

    private readonly Ina219 _ina;

    public Ina219PowerMonitor(I2cDevice device)
    {
        _ina = new Ina219(device);
        _ina.Reset();
        _ina.BusVoltageRange = Ina219BusVoltageRange.Range32v;
        _ina.PgaSensitivity = Ina219PgaSensitivity.PlusOrMinus320mv;
        // Cal = trunc(0.04096 / (current LSB × shunt)) = 0.04096 / (100 µA × 0.1 Ω) = 4096.
        _ina.SetCalibration(4096, 0.0001f);
    }

    public static Ina219PowerMonitor OnBus(int bus = DefaultBus, int address = DefaultAddress) =>
        new(I2cDevice.Create(new I2cConnectionSettings(bus, address)));

    public BatteryReading Read() => new(
        (int)Math.Round(_ina.ReadBusVoltage().Millivolts),
        (int)Math.Round(_ina.ReadCurrent().Milliamperes),
        (int)Math.Round(_ina.ReadPower().Milliwatts));

    public void Dispose() => _ina.Dispose();
}
