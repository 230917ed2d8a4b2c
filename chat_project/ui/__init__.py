"""The browser pages (login, sign-up, the chat page): the top floor, above every app."""
