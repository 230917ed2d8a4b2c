"""The browser UI: sign-up, log-in and log-out pages and the chat page.

The page itself talks only to the public contract (PROTOCOL.md): REST under
/api/v1/ with the Django session and CSRF, and the WebSocket /ws/chat/ with
the session cookie. These views only render HTML and manage the session.
"""

from functools import wraps

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, login, password_validation
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import AllowAllUsersModelBackend
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods

from chat_project.common.client_ip import client_ip
from chat_project.common.errors import InvalidInput, RateLimited
from chat_project.common.limits import MAX_CONTENT_CODE_POINTS, NICKNAME_MAX, PASSWORD_MAX, USERNAME_MAX
from chat_project.common.ratelimit import check_rate
from profiles.services import register_user

# Longest message the composer accepts (PROTOCOL.md: 1..4000 code points).
MAX_MESSAGE_LENGTH = MAX_CONTENT_CODE_POINTS


def _content_security_policy(request: HttpRequest) -> str:
    """Only this site's own scripts and styles; avatars may come from any http(s) host."""
    host = request.get_host()
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: https: http:",
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
        "max_message_length": MAX_MESSAGE_LENGTH,
    }
    return render(request, "chat.html", {"chat_config": config})


class LoginForm(AuthenticationForm):
    """Django's log-in form that tells a deactivated user so (given the right password).

    ModelBackend refuses inactive users, so their correct credentials would
    read "wrong username or password". Only when that happens is the same
    check made again with AllowAllUsersModelBackend's semantics, purely to
    choose the message: the user is never logged in.
    """

    error_messages = {**AuthenticationForm.error_messages, "inactive": "This account is deactivated."}

    def get_invalid_login_error(self) -> ValidationError:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username and password:
            user = AllowAllUsersModelBackend().authenticate(self.request, username=username, password=password)
            if user is not None and not user.is_active:
                return ValidationError(self.error_messages["inactive"], code="inactive")
        return super().get_invalid_login_error()


class LoginPage(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
    form_class = LoginForm

    def post(self, request, *args, **kwargs):
        # The same per-address limit as auth/token (CHAT_LOGIN_RATE).
        try:
            check_rate("login", client_ip(request), settings.CHAT_LOGIN_RATE)
        except RateLimited as exc:
            form = self.get_form_class()(request, initial={"username": request.POST.get("username", "")})
            response = self.render_to_response(self.get_context_data(form=form, page_error=exc.detail))
            response.status_code = 429
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        return super().post(request, *args, **kwargs)


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
        if username and not all(ch.isalnum() or ch in "@.+-_" for ch in username):
            self.add_error("username", "Letters, digits and @ . + - _ only.")
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

    def add_service_errors(self, exc: InvalidInput) -> None:
        """Show the service's {field: [messages]} next to the matching fields."""
        # None: a message of the whole form.
        items = exc.errors.items() if exc.errors else [(None, [exc.detail])]
        for field, messages in items:
            target = field if field in self.fields else None
            for message in messages:
                self.add_error(target, message)


@with_csp
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = SignupForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        try:
            # The same per-address limit as auth/register (CHAT_REGISTER_RATE).
            check_rate("register", client_ip(request), settings.CHAT_REGISTER_RATE)
        except RateLimited as exc:
            form.add_error(None, exc.detail)
            status = 429
        if status == 200 and form.is_valid():
            data = form.cleaned_data
            try:
                user, _token = register_user(data["username"], data["password"], data["nickname"])
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                login(request, user)
                return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/signup.html", {"form": form}, status=status)
