"""The browser UI: sign-up, log-in and log-out pages and the chat page.

The page itself talks only to the public contract (PROTOCOL.md): REST under
/api/v1/ with the Django session and CSRF, and the WebSocket /ws/chat/ with
the session cookie. These views only render HTML and manage the session.
"""

from functools import wraps
from typing import TypeVar, cast

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, login, password_validation
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods

from chat_project.common.client_ip import client_ip
from chat_project.common.errors import InvalidInput, RateLimited
from chat_project.common.inputs import Input
from chat_project.common.limits import MAX_CONTENT_CODE_POINTS, NICKNAME_MAX, PASSWORD_MAX, USERNAME_MAX
from chat_project.ui import app
from profiles import accounts
from profiles.inputs import LOGIN, REGISTER, USERNAME_CHARACTERS, Login, Register, is_username

# Longest message the composer accepts (PROTOCOL.md: 1..4000 code points).
MAX_MESSAGE_LENGTH = MAX_CONTENT_CODE_POINTS


def _content_security_policy(request: HttpRequest) -> str:
    """Only this site's own scripts and styles; avatars from any http(s) host, blob: for a chosen file's preview."""
    host = request.get_host()
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob: https: http:",
            f"connect-src 'self' ws://{host} wss://{host}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def with_csp(view):
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", _content_security_policy(request))
        return response

    return wrapped


@with_csp
@login_required
@ensure_csrf_cookie
def chat(request: HttpRequest) -> HttpResponse:
    """The chat app. ensure_csrf_cookie: the page's fetch calls read csrftoken for X-CSRFToken."""
    config = {
        "recall_window_seconds": settings.CHAT_RECALL_WINDOW_SECONDS,
        "edit_window_seconds": settings.CHAT_EDIT_WINDOW_SECONDS,
        "max_message_length": MAX_MESSAGE_LENGTH,
    }
    # The composer refuses a file over the limit before uploading it (static/chat/attachments.js).
    return render(
        request,
        "chat.html",
        {
            "chat_config": config,
            "attachment_max_bytes": settings.CHAT_ATTACHMENT_MAX_BYTES,
            "classic_scripts": app.CLASSIC_SCRIPTS,
            "module_entry": app.MODULE_ENTRY,
            "module_files": app.module_files(),
        },
    )


class FormInvalid(Exception):
    """A page's form has errors (they are on the form): nothing for the service to do."""


def _show_service_errors(form: forms.Form, exc: InvalidInput) -> None:
    """Show the service's {field: [messages]} next to the matching fields."""
    # No field errors: the detail is a message of the whole form (field None).
    items: list[tuple[str | None, list[str]]] = list(exc.errors.items()) if exc.errors else [(None, [exc.detail])]
    for field, messages in items:
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)


T = TypeVar("T", bound=tuple)


def _parse_form(form: forms.Form, declaration: Input[T]) -> T:
    """The form's fields parsed with the service's declaration; errors of either go on the form."""
    if form.is_valid():
        try:
            return declaration.parse(form.cleaned_data)
        except InvalidInput as exc:
            _show_service_errors(form, exc)
    raise FormInvalid()


class LoginForm(AuthenticationForm):
    """Django's log-in form for its fields, labels and messages; ``accounts.log_in`` checks the credentials.

    ``clean`` checks the fields only. The service authenticates and, asked to,
    tells a deactivated account's right password apart (ModelBackend refuses
    inactive users, so it would read "wrong username or password"): the page
    then says the account is deactivated, and never logs the user in.
    """

    error_messages = {**AuthenticationForm.error_messages, "inactive": "This account is deactivated."}

    def clean(self):
        return self.cleaned_data

    def credentials(self) -> Login:
        """The fields as the service takes them, or FormInvalid (the errors are on the form)."""
        return _parse_form(self, LOGIN)


class LoginPage(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
    form_class = LoginForm

    def post(self, request, *args, **kwargs):
        form = cast(LoginForm, self.get_form())
        try:
            # The same per-address limit as auth/token (CHAT_LOGIN_RATE), counted on every POST.
            user = accounts.log_in(request, form.credentials, client_ip=client_ip(request), tell_deactivated=True)
        except RateLimited as exc:
            blank = self.get_form_class()(request, initial={"username": request.POST.get("username", "")})
            response = self.render_to_response(self.get_context_data(form=blank, page_error=exc.detail))
            response.status_code = 429
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except FormInvalid:
            return self.form_invalid(form)
        except accounts.AccountDeactivated:
            form.add_error(None, ValidationError(form.error_messages["inactive"], code="inactive"))
            return self.form_invalid(form)
        except accounts.NotAuthenticated:
            form.add_error(None, form.get_invalid_login_error())
            return self.form_invalid(form)
        form.user_cache = user
        return self.form_valid(form)


login_page = with_csp(LoginPage.as_view())
# POST only (Django 5): a link cannot log anyone out.
logout_page = auth_views.LogoutView.as_view()


class SignupForm(forms.Form):
    username = forms.CharField(
        max_length=USERNAME_MAX,
        help_text="Letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True, "autocapitalize": "none"}),
    )
    nickname = forms.CharField(
        max_length=NICKNAME_MAX,
        required=False,
        help_text="Optional: the name other people see.",
        widget=forms.TextInput(attrs={"autocomplete": "nickname"}),
    )
    password = forms.CharField(
        strip=False, max_length=PASSWORD_MAX, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password_again = forms.CharField(
        label="Password again",
        strip=False,
        max_length=PASSWORD_MAX,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        """Every problem at once: a taken username together with the password's, not one per attempt."""
        super().clean()
        data = self.cleaned_data  # what Form.clean returns (its stubs allow None)
        username = data.get("username", "")
        if username and not is_username(username):
            self.add_error("username", USERNAME_CHARACTERS)
        elif username and get_user_model().objects.filter(username__iexact=username).exists():
            self.add_error("username", "This username is taken.")
        password = data.get("password")
        if password:
            candidate = get_user_model()(username=username, nickname=data.get("nickname", ""))
            try:
                password_validation.validate_password(password, candidate)
            except ValidationError as exc:
                for message in exc.messages:
                    self.add_error("password", message)
        if password and data.get("password_again") and password != data["password_again"]:
            self.add_error("password_again", "The two passwords differ.")
        return data

    def credentials(self) -> Register:
        """The fields as the service takes them, or FormInvalid (the errors are on the form)."""
        return _parse_form(self, REGISTER)


@with_csp
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = SignupForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        try:
            # The same per-address limit as auth/register (CHAT_REGISTER_RATE), counted on every POST.
            user, _token = accounts.register(form.credentials, client_ip=client_ip(request))
        except RateLimited as exc:
            form.add_error(None, exc.detail)
            status = 429
        except FormInvalid:
            pass
        except InvalidInput as exc:
            _show_service_errors(form, exc)
        else:
            login(request, user)
            return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/signup.html", {"form": form}, status=status)
