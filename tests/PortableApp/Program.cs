using Reactors.AspNetCore.Server.Kestrel.Transport.Select;

var builder = WebApplication.CreateSlimBuilder(args);
builder.WebHost.UseSelectTransport();
var app = builder.Build();
app.MapGet("/", () => "Hello from the select transport.");
app.Run();
