namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;

/// <summary>
/// Something a <see cref="SelectReactor"/> multiplexes: a connection or a listening socket. It tells the reactor
/// what it waits for through its <see cref="SelectRegistration"/> whenever that changes.
/// </summary>
internal interface ISelectHandler
{
    void OnSelectReadable();

    void OnSelectWritable();
}

[Flags]
internal enum SelectInterest
{
    None = 0,
    Read = 1,
    Write = 2,
}
