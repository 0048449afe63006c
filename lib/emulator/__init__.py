"""The demo tenant: a Microsoft Graph and sign-in emulator serving a synthetic partner tenant."""
