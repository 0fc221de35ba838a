//! The bodies of the original PassCom API, field for field as its write-up documents them
//! (`../shared/seeds/002_*.txt`, "Documentação da API"). Requests accept unknown fields, as
//! the original did: its clients send what they send.

use passcom_shared::AirlineCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct Credenciais {
    pub login: String,
    pub password: String,
}

#[derive(Debug, Serialize)]
pub struct Mensagem {
    pub message: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Sessao {
    pub access_token: String,
    pub user_uuid: Uuid,
}

/// A segment with its free seats (`GET /trechos`, `GET /all-trechos`).
#[derive(Debug, Serialize)]
pub struct Trecho {
    pub id: i64,
    pub company: AirlineCode,
    pub origem: String,
    pub destino: String,
    pub assentos: Vec<Assento>,
}

#[derive(Debug, Serialize)]
pub struct Assento {
    pub id: i64,
    pub numero: i64,
    /// 1 or 0, as the original stored it.
    pub disponivel: u8,
}

#[derive(Debug, Deserialize)]
pub struct PedidoRota {
    pub origem: String,
    pub destino: String,
}

/// One leg of a route (`POST /rotas`).
#[derive(Debug, Serialize)]
pub struct TrechoRota {
    pub origem: String,
    pub destino: String,
    pub company: AirlineCode,
    pub id_trecho: i64,
    pub assentos: Vec<AssentoRota>,
}

#[derive(Debug, Serialize)]
pub struct AssentoRota {
    pub id: i64,
    pub numero: i64,
}

/// `POST /reservar`. `user_uuid` is whatever the client sends; the user comes from the token.
#[derive(Debug, Deserialize)]
pub struct Reserva {
    #[serde(default)]
    pub user_uuid: Option<serde_json::Value>,
    pub trechos: Vec<TrechoPedido>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TrechoPedido {
    pub id_trecho: i64,
    pub id_assento: i64,
    pub company: String,
}

/// A pass (`GET /passagens-all/<user_uuid>`).
#[derive(Debug, Serialize)]
pub struct Passagem {
    pub uuid: Uuid,
    /// As Flask wrote dates: `Wed, 30 Oct 2024 20:22:37 GMT`.
    pub created_at: String,
    #[serde(rename = "trechosReservados")]
    pub trechos_reservados: Vec<TrechoReservado>,
}

#[derive(Debug, Serialize)]
pub struct TrechoReservado {
    pub trecho: TrechoDaPassagem,
    pub assento: AssentoDaPassagem,
}

#[derive(Debug, Serialize)]
pub struct TrechoDaPassagem {
    pub origem: String,
    pub destino: String,
    pub company: AirlineCode,
}

#[derive(Debug, Serialize)]
pub struct AssentoDaPassagem {
    /// `None` only while the leg's airline cannot be asked for the seat's number.
    pub numero: Option<i64>,
    pub disponivel: u8,
}
